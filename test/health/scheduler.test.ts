/**
 * The scheduler on a fake clock, against the real registry and SQLite store, with checkers whose
 * probes this file settles by hand: the concurrency and ordering rules, not timing.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineChecker, z, type CheckContext, type CheckOutcome } from 'vigil';
import { createCheckerRegistry, type CheckerRegistry } from '../../src/health/checker-registry.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { createScheduler, type CheckDefaults, type Scheduler } from '../../src/health/scheduler.js';
import { setOverride } from '../../src/health/state-machine.js';
import { createHealthWriter, type HealthWriter } from '../../src/registry/health-writer.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry, type Registry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import type { Store } from '../../src/registry/store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

const INTERVAL_MS = 1000;
const TIMEOUT_MS = 200;

/**
 * Checkers whose probes wait until the test settles them or their signal aborts (well-behaved: they
 * end at the runner's deadline); records how many run at once per port.
 */
function handCheckers() {
  const pending: Array<{ port: number; settle: (o: CheckOutcome) => void; signal: AbortSignal }> = [];
  const running = new Map<number, number>();
  let maxAtOnce = 0;
  const calls: Record<string, number> = {};
  const make = (type: string) =>
    defineChecker({
      type,
      options: z.strictObject({}),
      check: (ctx: CheckContext<object>) => {
        calls[type] = (calls[type] ?? 0) + 1;
        const port = ctx.target.port;
        running.set(port, (running.get(port) ?? 0) + 1);
        maxAtOnce = Math.max(maxAtOnce, running.get(port)!);
        return new Promise<CheckOutcome>((resolve) => {
          let done = false;
          const settle = (o: CheckOutcome): void => {
            if (done) return;
            done = true;
            running.set(port, running.get(port)! - 1);
            resolve(o);
          };
          pending.push({ port, signal: ctx.signal, settle });
          ctx.signal.addEventListener('abort', () => settle({ status: 'fail', reason: 'timeout' }), { once: true });
        });
      },
    });
  return { make, pending, calls, get maxAtOnce() { return maxAtOnce; } };
}

let dir: string;
let store: Store;
let writer: HealthWriter;
let registry: Registry;
let checkers: CheckerRegistry;
let scheduler: Scheduler | undefined;
const hand = () => handCheckers();
let h: ReturnType<typeof handCheckers>;

const inst = (port: number, type = 'hand'): Instance => ({
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', cluster: 'DEFAULT', ip: '127.0.0.1', port,
  weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: Date.now(),
  checker: { type, options: Object.freeze({}) },
});

function start(overrides: Partial<CheckDefaults> = {}, onFdExhausted?: () => void): Scheduler {
  const defaults: CheckDefaults = {
    checker: { type: 'hand', options: Object.freeze({}) },
    intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, fastIntervalMs: INTERVAL_MS, downIntervalMs: INTERVAL_MS,
    jitter: 0, rise: 1, fall: 1, adaptive: false, maxConcurrent: 16, perTypeConcurrency: {},
    ...overrides,
  };
  scheduler = createScheduler({
    registry, checkers, runner: createRunner(), resources: createResourcePool(), defaults, random: () => 0,
    ...(onFdExhausted ? { onFdExhausted } : {}),
  });
  scheduler.start();
  return scheduler;
}

/** Moves the fake clock and lets the promise callbacks it released run. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
  dir = tempDir('vigil-scheduler-');
  store = openSqliteStore({ dataDir: dir });
  writer = createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 10, maxBatch: 100 });
  registry = createRegistry({ store, healthWriter: writer });
  h = hand();
  checkers = createCheckerRegistry();
  checkers.add(h.make('hand'), 'test');
  checkers.add(h.make('slow'), 'test');
  checkers.add(h.make('fast'), 'test');
});

afterEach(async () => {
  for (const p of h.pending.splice(0)) p.settle({ status: 'ok', reason: 'done' });
  await scheduler?.stop();
  scheduler = undefined;
  vi.useRealTimers();
  await writer.close();
  await store.close();
  removeDir(dir);
});

describe('scheduler: one probe per instance at any time', () => {
  it('does not start a second probe when the instance is deregistered and registered again mid-probe', async () => {
    registry.register(inst(1));
    start();
    await advance(20);
    expect(h.calls.hand).toBe(1);
    registry.deregister(inst(1));
    registry.register(inst(1)); // the new task is due at once (first delay 0)
    await advance(TIMEOUT_MS / 2);
    expect(h.calls.hand).toBe(1); // the first probe is still within its budget
    // The new task waits (skipped): it neither starts nor counts the running probe against the instance.
    expect(registry.get(instanceKey(inst(1)))!.lastProbe).toBeUndefined();
    expect(scheduler!.stats.skipped).toBeGreaterThanOrEqual(1);
    h.pending.shift()!.settle({ status: 'ok', reason: 'done' });
    await advance(INTERVAL_MS * 2);
    expect(h.calls.hand).toBeGreaterThanOrEqual(2);
    expect(h.maxAtOnce).toBe(1);
  });

  it('does not start a second probe when the checker config changes mid-probe', async () => {
    const { checker: _own, ...withoutChecker } = inst(2);
    registry.register(withoutChecker); // probed with the service's config, set below
    start();
    await advance(20);
    expect(h.calls.hand).toBe(1);
    registry.setCheckerConfig({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc' }, { type: 'hand', options: Object.freeze({}), intervalMs: 100, fastIntervalMs: 100, downIntervalMs: 100, timeoutMs: 50 });
    await advance(TIMEOUT_MS / 2);
    expect(h.calls.hand).toBe(1); // the new 100 ms interval came due, the old probe still runs
    await advance(INTERVAL_MS * 2);
    expect(h.calls.hand).toBeGreaterThan(2); // then the new config probes every 100 ms
    expect(h.maxAtOnce).toBe(1);
  });

  it('does not start a second probe when an override is set and cleared mid-probe, and the probe does not undo the override', async () => {
    registry.register(inst(3));
    const key = instanceKey(inst(3));
    start();
    await advance(20);
    const set = setOverride(registry.get(key)!.health, { healthy: true, by: 'ops' }, Date.now());
    registry.setHealth(key, set.state, set.change);
    h.pending.shift()!.settle({ status: 'fail-now', reason: 'refused' }); // lands after the override
    await advance(1);
    expect(registry.get(key)!.health).toMatchObject({ healthy: true, decidedBy: 'operator' });
    await advance(INTERVAL_MS * 3);
    expect(h.calls.hand).toBe(1); // exempt while overridden
    const cleared = setOverride(registry.get(key)!.health, null, Date.now());
    registry.setHealth(key, cleared.state, cleared.change);
    await advance(INTERVAL_MS * 4);
    expect(h.calls.hand).toBeGreaterThanOrEqual(2); // probing again once the override is gone
    expect(h.maxAtOnce).toBe(1);
  });
});

describe('scheduler: concurrency caps', () => {
  it('lets other types probe while one type waits for its own cap (per-type waits hold no global slot)', async () => {
    for (let p = 10; p < 14; p++) registry.register(inst(p, 'slow'));
    registry.register(inst(20, 'fast'));
    start({ maxConcurrent: 2, perTypeConcurrency: { slow: 1 } });
    await advance(50);
    expect(h.calls.slow).toBe(1);
    expect(h.calls.fast).toBe(1);
  });
});

describe('scheduler: shedding under overload', () => {
  it('runs up to the global cap, queues as many again and sheds the rest of a burst; a freed slot starts the oldest queued probe', async () => {
    for (let p = 50; p < 56; p++) registry.register(inst(p));
    const s = start({ maxConcurrent: 2, timeoutMs: 10_000 });
    await advance(20);
    expect(h.calls.hand).toBe(2);
    expect(s.stats).toMatchObject({ running: 4, shed: 2 }); // two running, two queued
    expect(h.pending.map((p) => p.port)).toEqual([50, 51]);
    h.pending.shift()!.settle({ status: 'ok', reason: 'done' });
    await advance(0);
    expect(h.pending.map((p) => p.port)).toEqual([51, 52]);
    expect(s.stats.running).toBe(3);
  });

  it('sheds a due probe when its type\'s queue is full, though the global queue has room', async () => {
    for (let p = 60; p < 65; p++) registry.register(inst(p, 'slow'));
    const s = start({ maxConcurrent: 2, perTypeConcurrency: { slow: 1 }, timeoutMs: 10_000 });
    await advance(20);
    expect(h.calls.slow).toBe(1);
    expect(s.stats).toMatchObject({ running: 3, shed: 2 }); // one running, two waiting for the type
  });
});

describe('scheduler: the framework bounds every probe', () => {
  it('ends a probe whose checker ignores its signal at its timeout, starts no second attempt while the first hangs, and counts each due probe as a timeout', async () => {
    let calls = 0;
    const signals: AbortSignal[] = [];
    let release: ((o: CheckOutcome) => void) | undefined;
    checkers.add(
      defineChecker({
        type: 'stuck',
        options: z.strictObject({}),
        check: (ctx) => {
          calls++;
          signals.push(ctx.signal);
          return new Promise<CheckOutcome>((resolve) => (release = resolve));
        },
      }),
      'test',
    );
    registry.register(inst(30, 'stuck'));
    const key = instanceKey(inst(30, 'stuck'));
    start({ fall: 3 });
    await advance(20 + TIMEOUT_MS);
    expect(registry.get(key)!.lastProbe).toMatchObject({ status: 'fail', reason: 'timeout' });
    expect(signals[0]!.aborted).toBe(true);
    await advance(INTERVAL_MS * 4);
    expect(calls).toBe(1); // the hanging attempt is the only one: plugins cannot pile up attempts
    expect(registry.get(key)!.health.healthy).toBe(false); // yet the instance falls like any timeout
    expect(registry.get(key)!.lastProbe?.detail).toMatch(/previous attempt has not ended/);
    release!({ status: 'ok', reason: 'late' }); // the plugin finally gives up its attempt
    await advance(INTERVAL_MS * 2);
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('starts no second attempt while one hangs, also when the instance is deregistered and registered again meanwhile', async () => {
    let calls = 0;
    let release: ((o: CheckOutcome) => void) | undefined;
    checkers.add(
      defineChecker({
        type: 'stuck',
        options: z.strictObject({}),
        check: () => {
          calls++;
          return new Promise<CheckOutcome>((resolve) => (release = resolve));
        },
      }),
      'test',
    );
    registry.register(inst(31, 'stuck'));
    const key = instanceKey(inst(31, 'stuck'));
    start({ fall: 3 });
    await advance(20 + TIMEOUT_MS); // answered at its deadline; the attempt hangs on
    expect(calls).toBe(1);
    registry.deregister(inst(31, 'stuck'));
    registry.register(inst(31, 'stuck')); // a new task, due at once
    await advance(INTERVAL_MS * 4);
    expect(calls).toBe(1);
    expect(registry.get(key)!.lastProbe?.detail).toMatch(/previous attempt has not ended/);
    release!({ status: 'ok', reason: 'late' });
    await advance(INTERVAL_MS * 2);
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('discards probes that failed because vigil ran out of descriptors, and reports them', async () => {
    checkers.add(
      defineChecker({
        type: 'nofds',
        options: z.strictObject({}),
        check: async () => {
          throw Object.assign(new Error('connect EMFILE'), { code: 'EMFILE' });
        },
      }),
      'test',
    );
    registry.register(inst(40, 'nofds'));
    let reported = 0;
    start({}, () => reported++);
    await advance(INTERVAL_MS * 5);
    expect(reported).toBeGreaterThanOrEqual(5);
    expect(registry.get(instanceKey(inst(40, 'nofds')))!.health).toMatchObject({ healthy: true, failStreak: 0 });
  });
});

describe('scheduler: cadence', () => {
  it('starts one probe an interval on average even when the pump runs behind the wheel slots', async () => {
    // A clock 5 ms past a 10 ms slot boundary: each pump pops its tasks 5 ms after they came due.
    vi.setSystemTime(1_700_000_000_005);
    const settled = vi.fn();
    checkers.add(defineChecker({ type: 'instant', options: z.strictObject({}), check: async () => { settled(); return { status: 'ok', reason: 'done' }; } }), 'test');
    registry.register({ ...inst(7), checker: { type: 'instant', options: Object.freeze({}) } });
    start();
    await advance(100);
    const first = settled.mock.calls.length;
    await advance(100 * INTERVAL_MS);
    // Counting each interval from the pump instead of the due time lost 10 ms an interval: 99 here.
    expect(settled.mock.calls.length - first).toBe(100);
  });
});
