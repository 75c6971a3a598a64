/**
 * Which probe results a cluster node publishes besides flips: the streak that counts towards the
 * next flip, so that a new owner continues the rise/fall count. A real registry on a temporary
 * embedded store, a publisher that records what it was given, literal probe results and clock.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { ProbeResult } from '../../src/health/contract.js';
import { applyProbe } from '../../src/health/state-machine.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry, type Registry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import type { Store } from '../../src/registry/store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

const T0 = 1_700_000_000_000;
const inst: Instance = {
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'web', cluster: 'DEFAULT', ip: '10.0.0.1', port: 80,
  weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: T0,
};
const A = instanceKey(inst);

let dir: string;
let store: Store;
let registry: Registry;
let published: Array<{ healthy: boolean; okStreak: number; failStreak: number; version: number }>;

beforeEach(() => {
  dir = tempDir('vigil-streaks-');
  store = openSqliteStore({ dataDir: dir });
  published = [];
  registry = createRegistry({
    store,
    healthWriter: { put: () => {}, forget: () => {} },
    now: () => T0,
    publisher: {
      nodeId: 'n1',
      async publish(_key, h) {
        const { healthy, okStreak, failStreak, version } = h.health;
        published.push({ healthy, okStreak, failStreak, version });
        return { epoch: 1 };
      },
      onRefused: () => {},
    },
  });
  registry.register(inst);
});

afterEach(async () => {
  await store.close();
  removeDir(dir);
});

/** What the scheduler does with a result, then lets the publication land. */
async function probe(status: ProbeResult['status'], at: number): Promise<void> {
  const r: ProbeResult = { status, reason: status, type: 'tcp', latencyMs: 1, startedAt: at };
  const { state, change } = applyProbe(registry.peek(A)!.health, status, r.reason, at, { rise: 3, fall: 3 });
  if (change) registry.setHealth(A, state, change, r);
  else registry.recordProbe(A, r, state);
  await new Promise((resolve) => setImmediate(resolve));
}

it('publishes the failures counting towards a flip, the flip, and the broken streak, but nothing for steady successes', async () => {
  await probe('ok', T0 + 1);
  await probe('ok', T0 + 2);
  expect(published).toEqual([]);
  await probe('fail', T0 + 3);
  await probe('fail', T0 + 4);
  await probe('fail', T0 + 5);
  expect(published.map((p) => [p.healthy, p.failStreak])).toEqual([[true, 1], [true, 2], [false, 3]]);
  // Each publication is newer than the last, so peers apply every one.
  expect(published.map((p) => p.version)).toEqual([2, 3, 4]);
  await probe('fail', T0 + 6);
  expect(published).toHaveLength(3);
  await probe('ok', T0 + 7);
  expect(published.at(-1)).toMatchObject({ healthy: false, okStreak: 1, failStreak: 0 });
  expect(registry.peek(A)!.health.okStreak).toBe(1);
});

it('a new owner that loads the published record continues the count: one more failure flips', async () => {
  await probe('fail', T0 + 1);
  await probe('fail', T0 + 2);
  const last = published.at(-1)!;
  expect(last).toMatchObject({ healthy: true, failStreak: 2 });
  const taken = applyProbe({ ...registry.peek(A)!.health }, 'fail', 'fail', T0 + 3, { rise: 3, fall: 3 });
  expect(taken.state.healthy).toBe(false);
});
