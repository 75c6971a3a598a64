/**
 * The beat module driven by a literal clock: a real registry on a temporary store, no timers; each
 * test advances time one sweep interval at a time, as the timer would, and sweeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createBeatModule, type BeatModule } from '../../src/beat/beat-module.js';
import { BEAT_SWITCHES } from '../../src/beat/switches.js';
import { parseConfig } from '../../src/config/load.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry, type Registry, type RegistryEvent } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import { createHealthWriter } from '../../src/registry/health-writer.js';
import type { Store } from '../../src/registry/store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

const T0 = 1_700_000_000_000;

function instance(port: number, extra: Partial<Instance> = {}): Instance {
  return { namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', cluster: 'DEFAULT', ip: '127.0.0.1', port, weight: 1, enabled: true, ephemeral: true, metadata: {}, registeredAt: T0, ...extra };
}

let dir: string;
let store: Store;
let registry: Registry;
let beats: BeatModule;
let clock: number;
// A stop landing between two clock readings: the reading after the next one is this much later.
let stopAfterNextRead = 0;
let events: RegistryEvent[];

function setup(beat: Record<string, unknown> = {}): void {
  const config = parseConfig({ beat }).beat;
  beats = createBeatModule({ registry, config, logger: pino({ level: 'silent' }), now: read, sweepTimer: false });
  beats.start();
}

function read(): number {
  const at = clock;
  clock += stopAfterNextRead;
  stopAfterNextRead = 0;
  return at;
}

/** Advances the clock in sweep-sized steps, sweeping after each, as the real timer does. */
function advance(ms: number, step = 1000): void {
  for (let t = 0; t < ms; t += step) {
    clock += Math.min(step, ms - t);
    beats.sweep();
  }
}

const health = (port: number): boolean | undefined => registry.find(instance(port))?.health.healthy;
const present = (port: number): boolean => registry.find(instance(port)) !== undefined;
const beat = (port: number): boolean => beats.beat(instanceKey(instance(port)));

beforeEach(() => {
  dir = tempDir('vigil-beat-');
  store = openSqliteStore({ dataDir: dir });
  clock = T0;
  stopAfterNextRead = 0;
  registry = createRegistry({ store, healthWriter: createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 10, maxBatch: 100 }), now: () => clock });
  events = [];
  registry.subscribe((e) => events.push(e));
});

afterEach(async () => {
  beats.stop();
  await store.close();
  removeDir(dir);
});

describe('beat module: two-stage expiry', () => {
  it('marks a silent instance unhealthy after 15 s and deletes it after 30 s, each as a registry event', () => {
    setup();
    registry.register(instance(1));
    advance(14_000);
    expect(health(1)).toBe(true);
    advance(1000);
    expect(health(1)).toBe(false);
    const flip = events.find((e) => e.type === 'health-changed');
    expect(flip).toMatchObject({ change: { to: false, decidedBy: 'beat', reason: 'beat-timeout', at: T0 + 15_000 } });
    advance(14_000);
    expect(present(1)).toBe(true);
    advance(1000);
    expect(present(1)).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'instance-deregistered' });
    expect(beats.status().counters).toMatchObject({ markedUnhealthy: 1, deleted: 1 });
  });

  it('keeps an instance that beats alive indefinitely', () => {
    setup();
    registry.register(instance(1));
    for (let i = 0; i < 20; i++) {
      advance(5000);
      expect(beat(1)).toBe(true);
    }
    expect(health(1)).toBe(true);
    expect(events.filter((e) => e.type === 'health-changed')).toHaveLength(0);
  });

  it('makes an unhealthy instance healthy at the first beat', () => {
    setup();
    registry.register(instance(1));
    advance(20_000);
    expect(health(1)).toBe(false);
    expect(beat(1)).toBe(true);
    expect(health(1)).toBe(true);
    expect(events.filter((e) => e.type === 'health-changed').at(-1)).toMatchObject({ change: { to: true, decidedBy: 'beat', at: T0 + 20_000 } });
  });

  it('honours preserved.* metadata per instance', () => {
    setup();
    registry.register(instance(1, { metadata: { 'preserved.heart.beat.timeout': '2000', 'preserved.ip.delete.timeout': '4000', 'preserved.heart.beat.interval': '1000' } }));
    registry.register(instance(2));
    expect(beats.intervalFor(instanceKey(instance(1)))).toBe(1000);
    expect(beats.intervalFor(instanceKey(instance(2)))).toBe(5000);
    advance(2000);
    expect(health(1)).toBe(false);
    expect(health(2)).toBe(true);
    advance(2000);
    expect(present(1)).toBe(false);
    expect(present(2)).toBe(true);
  });

  it('only marks unhealthy, never deletes, while the expireInstance switch is off', () => {
    setup();
    registry.setSwitch(BEAT_SWITCHES.expireInstance, false);
    registry.register(instance(1));
    advance(60_000);
    expect(health(1)).toBe(false);
    expect(present(1)).toBe(true);
    expect(beats.status().selfPreservation.held).toBe(1);
  });

  it('answers false for a key it does not track, and ignores persistent instances', () => {
    setup();
    registry.register(instance(1, { ephemeral: false }));
    expect(beat(1)).toBe(false);
    expect(beat(2)).toBe(false);
    advance(60_000);
    expect(present(1)).toBe(true);
    expect(health(1)).toBe(true);
  });

  it('tracks an instance that turns ephemeral and forgets one that turns persistent', () => {
    setup();
    registry.register(instance(1, { ephemeral: false }));
    registry.register(instance(1));
    expect(beat(1)).toBe(true);
    registry.register(instance(1, { ephemeral: false }));
    expect(beat(1)).toBe(false);
    expect(beats.status().ephemeralInstances).toBe(0);
  });
});

describe('beat module: vigil stalls are not held against instances', () => {
  it('extends every deadline by a 40 s stall of its own (no sweep, no beat in between)', () => {
    setup();
    for (let p = 1; p <= 3; p++) registry.register(instance(p));
    advance(5000);
    clock += 40_000; // SIGSTOP: neither the sweep timer nor any request ran
    beats.sweep();
    expect([health(1), health(2), health(3)]).toEqual([true, true, true]);
    expect(beats.status().stall.totalMs).toBe(39_000);
    expect(events.find((e) => e.type === 'beat-protection')).toMatchObject({ what: 'stall-compensated', detail: { stallMs: 39_000 } });
    // The stall minus one sweep interval (the gap a running vigil leaves anyway) is not counted:
    // silent for 6 s of vigil's time, the instances have 9 s left until unhealthy.
    advance(8000);
    expect(health(1)).toBe(true);
    advance(1000);
    expect(health(1)).toBe(false);
  });

  it('also notices the stall at the first beat after it, before the overdue sweep runs', () => {
    setup();
    registry.register(instance(1));
    registry.register(instance(2));
    advance(5000);
    clock += 40_000;
    expect(beat(1)).toBe(true);
    beats.sweep();
    expect(health(2)).toBe(true);
    expect(beats.status().stall.totalMs).toBe(39_000);
  });

  it('notices a stop that lands in the middle of a sweep (between its first and last clock reading)', () => {
    setup();
    registry.register(instance(1));
    advance(5000);
    stopAfterNextRead = 40_000; // SIGSTOP after the sweep read the clock, before it finished
    beats.sweep();
    // As between sweeps, one interval of the gap is what a running vigil may take anyway.
    expect(beats.status().stall.totalMs).toBe(39_000);
    advance(8000);
    expect(health(1)).toBe(true);
    advance(1000);
    expect(health(1)).toBe(false);
  });

  it('does not count a sweep that takes up to an interval as a stall', () => {
    setup();
    registry.register(instance(1));
    advance(5000);
    stopAfterNextRead = 1200; // a slow sweep: one interval plus less than the tolerance
    beats.sweep();
    expect(beats.status().stall.totalMs).toBe(0);
  });

  it('does not count the ordinary lateness of a sweep as a stall', () => {
    setup();
    registry.register(instance(1));
    advance(10_000, 1200);
    expect(beats.status().stall.totalMs).toBe(0);
  });
});

describe('beat module: self-preservation', () => {
  const sp = { selfPreservation: { windowMs: 10_000, minInstances: 10 } };

  it('holds deletions when all instances fall silent at once, says so, and releases when beats return', () => {
    setup(sp);
    for (let p = 1; p <= 20; p++) registry.register(instance(p));
    for (let i = 0; i < 4; i++) {
      advance(5000);
      for (let p = 1; p <= 20; p++) beat(p);
    }
    advance(31_000);
    for (let p = 1; p <= 20; p++) expect(present(p)).toBe(true);
    for (let p = 1; p <= 20; p++) expect(health(p)).toBe(false);
    const status = beats.status().selfPreservation;
    expect(status).toMatchObject({ engaged: true, held: 20 });
    expect(['burst', 'renewals']).toContain(status.reason);
    expect(events.find((e) => e.type === 'beat-protection' && e.what === 'engaged')).toBeDefined();

    for (let i = 0; i < 4; i++) {
      for (let p = 1; p <= 20; p++) beat(p);
      advance(5000);
    }
    for (let p = 1; p <= 20; p++) expect(health(p)).toBe(true);
    expect(beats.status().selfPreservation.engaged).toBe(false);
    expect(events.find((e) => e.type === 'beat-protection' && e.what === 'released')).toBeDefined();
    expect(beats.status().counters.deleted).toBe(0);
  });

  it('still deletes the few that stop while the rest keep beating', () => {
    setup(sp);
    for (let p = 1; p <= 20; p++) registry.register(instance(p));
    for (let i = 0; i < 10; i++) {
      advance(5000);
      for (let p = 1; p <= 18; p++) beat(p);
    }
    expect(present(19)).toBe(false);
    expect(present(20)).toBe(false);
    for (let p = 1; p <= 18; p++) expect(present(p)).toBe(true);
    expect(beats.status().selfPreservation.engaged).toBe(false);
  });

  it('deletes as usual when switched off at run time', () => {
    setup(sp);
    registry.setSwitch(BEAT_SWITCHES.selfPreservation, false);
    for (let p = 1; p <= 20; p++) registry.register(instance(p));
    advance(31_000);
    for (let p = 1; p <= 20; p++) expect(present(p)).toBe(false);
  });
});
