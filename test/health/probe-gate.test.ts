/**
 * The scheduler's concurrency caps (src/health/probe-gate.ts): a global cap, per-type lanes taken
 * before a global slot, FIFO queues, and the "queue full" test the scheduler sheds on.
 */
import { describe, expect, it } from 'vitest';
import { createProbeGate, type Lane } from '../../src/health/probe-gate.js';

interface Job {
  readonly name: string;
  readonly lane: Lane | undefined;
}

function rig(cap: number) {
  const started: string[] = [];
  const gate = createProbeGate<string, Job>(cap, (j) => j.lane, (name, _job, at) => started.push(`${name}@${at}`));
  const jobs = new Map<string, Job>();
  const enter = (name: string, lane?: Lane, at = 0): void => {
    const job = { name, lane };
    jobs.set(name, job);
    gate.enter(name, job, at);
  };
  const leave = (name: string): void => gate.leave(jobs.get(name)!);
  return { gate, started, enter, leave };
}

describe('probe gate', () => {
  it('starts jobs at once up to the global cap, queues the rest and starts them in arrival order as slots free', () => {
    const { gate, started, enter, leave } = rig(2);
    for (const [i, n] of ['a', 'b', 'c', 'd'].entries()) enter(n, undefined, i);
    expect(started).toEqual(['a@0', 'b@1']);
    expect(gate).toMatchObject({ active: 2, queued: 2 });
    leave('b');
    expect(started).toEqual(['a@0', 'b@1', 'c@2']);
    leave('a');
    leave('c');
    expect(started).toEqual(['a@0', 'b@1', 'c@2', 'd@3']);
    leave('d');
    expect(gate).toMatchObject({ active: 0, queued: 0 });
  });

  it('lets other jobs take global slots while a type waits for its own cap (a lane wait holds no global slot)', () => {
    const { gate, started, enter, leave } = rig(2);
    const slow = gate.lane(1);
    enter('s1', slow);
    enter('s2', slow);
    enter('s3', slow);
    enter('f1');
    expect(started).toEqual(['s1@0', 'f1@0']);
    expect(slow).toMatchObject({ active: 1, queued: 2 });
    expect(gate).toMatchObject({ active: 2, queued: 0 });
    leave('s1');
    expect(started).toEqual(['s1@0', 'f1@0', 's2@0']);
    expect(slow).toMatchObject({ active: 1, queued: 1 });
  });

  it('holds a lane slot while its job waits for a global slot', () => {
    const { gate, started, enter, leave } = rig(1);
    const lane = gate.lane(2);
    enter('x');
    enter('l1', lane);
    enter('l2', lane);
    enter('l3', lane);
    expect(started).toEqual(['x@0']);
    expect(lane).toMatchObject({ active: 2, queued: 1 });
    expect(gate.queued).toBe(2);
    leave('x');
    expect(started).toEqual(['x@0', 'l1@0']);
    leave('l1');
    // l1's global slot goes to l2 (queued globally); its lane slot lets l3 queue for a global one.
    expect(started).toEqual(['x@0', 'l1@0', 'l2@0']);
    expect(lane).toMatchObject({ active: 2, queued: 0 });
    expect(gate.queued).toBe(1);
  });

  it('reports a queue as full when the global queue or the job\'s lane queue holds max jobs', () => {
    const { gate, enter } = rig(1);
    enter('a');
    expect(gate.full(undefined, 2)).toBe(false);
    enter('b');
    enter('c');
    expect(gate.full(undefined, 2)).toBe(true);
    const { gate: g2, enter: enter2 } = rig(10);
    const l2 = g2.lane(1);
    enter2('l1', l2);
    enter2('l2', l2);
    expect(g2.full(l2, 1)).toBe(true);
    expect(g2.full(undefined, 1)).toBe(false);
  });
});
