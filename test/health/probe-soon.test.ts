/**
 * The scheduler's hook for the primaries tracker, with a literal clock (fake timers): every probe
 * result reaches `onProbe`, and `probeSoon` brings a probe forward but never pushes one back.
 * The checker answers at once in-process, so only the scheduler's timing is under test.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineChecker } from '../../src/health/contract.js';
import { createCheckerRegistry } from '../../src/health/checker-registry.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { createScheduler, type Scheduler } from '../../src/health/scheduler.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import pino from 'pino';
import { createHealthWriter } from '../../src/registry/health-writer.js';
import { createRegistry, type Registry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import type { Store } from '../../src/registry/store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

const T0 = 1_700_000_000_000;
const inst: Instance = {
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'db', cluster: 'DEFAULT', ip: '127.0.0.1', port: 3306,
  weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: T0,
};
const KEY = instanceKey(inst);
const instant = defineChecker({ type: 'instant', options: z.strictObject({}), check: async () => ({ status: 'ok', reason: 'primary', facts: { role: 'primary' } }) });

let dir: string;
let store: Store;
let registry: Registry;
let scheduler: Scheduler;
let seen: Array<{ key: string; at: number; role: unknown }>;

function start(onProbe: (key: string) => void = () => {}): void {
  const checkers = createCheckerRegistry([instant]);
  scheduler = createScheduler({
    registry, checkers, runner: createRunner(), resources: createResourcePool(), random: () => 0,
    defaults: {
      checker: { type: 'instant', options: {} }, intervalMs: 5000, timeoutMs: 1000, fastIntervalMs: 1000, downIntervalMs: 10_000,
      jitter: 0, rise: 3, fall: 3, adaptive: false, maxConcurrent: 16, perTypeConcurrency: {},
    },
    onProbe: (key, result) => {
      seen.push({ key, at: Date.now() - T0, role: result.facts?.role });
      onProbe(key);
    },
  });
  scheduler.start();
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  dir = tempDir('vigil-probe-soon-');
  store = openSqliteStore({ dataDir: dir });
  registry = createRegistry({ store, healthWriter: createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 10, maxBatch: 100 }) });
  registry.register(inst);
  seen = [];
});

afterEach(async () => {
  await scheduler.stop();
  vi.useRealTimers();
  await store.close();
  removeDir(dir);
});

describe('the scheduler hook for primaries', () => {
  it('reports every probe result to onProbe, at the steady interval when nobody hurries it', async () => {
    start();
    await vi.advanceTimersByTimeAsync(10_100);
    expect(seen.map((s) => s.at)).toEqual([10, 5010, 10_010]);
    expect(seen[0]).toMatchObject({ key: KEY, role: 'primary' });
  });

  it('probes again within the delay asked from onProbe (the instance just probed is no longer running)', async () => {
    start((key) => scheduler.probeSoon(key, 250));
    await vi.advanceTimersByTimeAsync(1_100);
    expect(seen.map((s) => s.at)).toEqual([10, 260, 510, 760, 1010]);
  });

  it('never pushes a due probe back', async () => {
    start();
    await vi.advanceTimersByTimeAsync(100);
    scheduler.probeSoon(KEY, 60_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(seen.map((s) => s.at)).toEqual([10, 5010]);
  });

  it('ignores keys it has no task for', async () => {
    start();
    scheduler.probeSoon('public/DEFAULT_GROUP@@nope/DEFAULT/127.0.0.1:1', 0);
    await vi.advanceTimersByTimeAsync(100);
    expect(seen.map((s) => s.key)).toEqual([KEY]);
  });
});
