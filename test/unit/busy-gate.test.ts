import { describe, expect, it } from 'vitest';
import { BUSY_SAMPLES, BUSY_UTILISATION, createBusyGate } from '../../src/runtime/busy-gate.js';

describe('busy gate', () => {
  it('opens after BUSY_SAMPLES samples in a row above BUSY_UTILISATION, once, and stays open', () => {
    const opened: number[] = [];
    const gate = createBusyGate({ timer: false, onOpen: (u) => opened.push(u) });
    expect([BUSY_UTILISATION, BUSY_SAMPLES]).toEqual([0.9, 3]);
    // A spike, and a run broken by one quiet second, are not busy; exactly the threshold is not above it.
    for (const u of [0.99, 0.2, 0.95, 0.95, 0.5, 0.95, 0.9, 0.95, 0.95]) gate.sample(u);
    expect(gate.open()).toBe(false);
    gate.sample(0.91);
    expect(gate.open()).toBe(true);
    expect(opened).toEqual([0.91]);
    gate.sample(0);
    gate.sample(0.99);
    expect(gate.open()).toBe(true);
    expect(opened).toEqual([0.91]);
  });
});
