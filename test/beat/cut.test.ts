/**
 * A network cut, in process: every ephemeral instance falls silent at once while vigil runs on.
 * Deletion is held and vigil says so (API, event); beats coming back make the instances healthy.
 * vigil runs on a fake clock that the test moves one sweep interval at a time, waiting for the
 * sweep at each step, so the test neither sleeps nor depends on how fast the machine is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { beatStatus, list, nacos, startVigil, until, type Vigil } from '../nacos/helpers.js';

let vigil: Vigil | undefined;

afterEach(async () => {
  await vigil?.stop();
  vigil = undefined;
});

const N = 20;
const SWEEP_MS = 100;
const CONFIG = {
  beat: { clientBeatIntervalMs: 300, heartbeatTimeoutMs: 1000, deleteTimeoutMs: 2000, sweepIntervalMs: SWEEP_MS, selfPreservation: { windowMs: 1500, minInstances: 10 } },
};

describe('self-preservation during a network cut', () => {
  it('holds deletions while all instances are silent, reports it, and lets them recover when beats return', async () => {
    let clock = Date.parse('2026-12-01T00:00:00Z');
    vigil = await startVigil(CONFIG, { now: () => clock });
    const url = vigil.url;
    /** Moves vigil's clock by `ms`, one sweep interval at a time (a larger jump would read as a stall of vigil). */
    const advance = async (ms: number): Promise<void> => {
      for (let moved = 0; moved < ms; moved += SWEEP_MS) {
        clock += SWEEP_MS;
        await until(async () => ((await beatStatus(url)).lastSweep?.at ?? 0) >= clock, 10_000, 20);
      }
    };
    const ports = Array.from({ length: N }, (_, i) => 21_000 + i);
    await Promise.all(ports.map((port) => nacos(url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@cut', ip: '127.0.0.1', port })));
    const beatAll = () => Promise.all(ports.map((port) => nacos(url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@cut', ip: '127.0.0.1', port })));
    for (let i = 0; i < 8; i++) {
      await beatAll();
      await advance(200);
    }
    expect((await beatStatus(url)).selfPreservation.engaged).toBe(false);

    // The cut: no beats for longer than the delete timeout.
    await advance(3500);
    const hosts = await list(url, 'DEFAULT_GROUP@@cut');
    expect(hosts).toHaveLength(N);
    expect(hosts.every((h) => !h.healthy)).toBe(true);
    const status = await beatStatus(url);
    expect(status.selfPreservation).toMatchObject({ engaged: true, held: N });
    expect(status.counters.deleted).toBe(0);
    expect(status.stall.totalMs).toBe(0); // the clock moved sweep by sweep: nothing was read as vigil's own stall
    expect((await nacos(url, 'GET', '/operator/metrics')).json.selfPreservation.engaged).toBe(true);

    // The cut heals: beats return, the instances are healthy at once and protection ends once the
    // renewal window is full of beats again.
    await beatAll();
    expect(await list(url, 'DEFAULT_GROUP@@cut', { healthyOnly: true })).toHaveLength(N);
    let rounds = 0;
    while ((await beatStatus(url)).selfPreservation.engaged) {
      expect(++rounds, 'protection still engaged after 40 rounds of beats').toBeLessThanOrEqual(40);
      await advance(200);
      await beatAll();
    }
    expect(await list(url, 'DEFAULT_GROUP@@cut', { healthyOnly: true })).toHaveLength(N);
    expect((await beatStatus(url)).counters.deleted).toBe(0);
  }, 60_000);
});
