/**
 * The primaries tracker driven by literal probe results and a literal clock, on a real registry
 * over a temporary store: which events it announces, which probes it asks for, and when waiters wake.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../src/health/contract.js';
import { applyProbe, type HealthState } from '../../src/health/state-machine.js';
import { createPrimaryTracker, type PrimaryTracker } from '../../src/primaries/tracker.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import pino from 'pino';
import { createHealthWriter } from '../../src/registry/health-writer.js';
import { createRegistry, type Registry, type RegistryEvent } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import type { Store } from '../../src/registry/store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

const T0 = 1_700_000_000_000;
const policy = { intervalMs: 1000, fastIntervalMs: 250, settleMs: 3000, holdMs: 60_000 };
const inst = (port: number): Instance => ({
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'db', cluster: 'DEFAULT', ip: '127.0.0.1', port,
  weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: T0,
});
const A = instanceKey(inst(3306));
const B = instanceKey(inst(3307));
const ref = (port: number) => ({ key: instanceKey(inst(port)), cluster: 'DEFAULT', ip: '127.0.0.1', port });
const result = (status: ProbeResult['status'], role?: 'primary' | 'replica'): ProbeResult => ({
  status, reason: role ?? 'timeout', type: 'mysql', latencyMs: 1, startedAt: clock, ...(role ? { facts: { role } } : {}),
});

let dir: string;
let store: Store;
let registry: Registry;
let tracker: PrimaryTracker;
let clock: number;
let events: RegistryEvent[];
let hurried: Array<[string, number]>;

/** What the scheduler does: apply the result to the health, store it, then tell the tracker. */
function probe(key: string, r: ProbeResult): HealthState {
  const { state, change } = applyProbe(registry.peek(key)!.health, r.status, r.reason, clock, { rise: 3, fall: 3 });
  if (change) registry.setHealth(key, state, change, r);
  else registry.recordProbe(key, r, state);
  tracker.onProbe(key, r, state);
  return state;
}

const primaryEvents = () => events.filter((e) => e.type === 'primary-changed' || e.type === 'split-brain');

beforeEach(() => {
  dir = tempDir('vigil-primaries-');
  store = openSqliteStore({ dataDir: dir });
  clock = T0;
  registry = createRegistry({ store, healthWriter: createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 10, maxBatch: 100 }), now: () => clock });
  tracker = createPrimaryTracker({ registry, policy, hurry: (k, ms) => hurried.push([k, ms]), now: () => clock, random: () => 0.5 });
  tracker.start();
  registry.register(inst(3306));
  registry.register(inst(3307));
  events = [];
  hurried = [];
  registry.subscribe((e) => events.push(e));
});

afterEach(async () => {
  tracker.stop();
  await store.close();
  removeDir(dir);
});

describe('the primaries tracker', () => {
  it('announces the first primary it sees and probes role instances at the steady interval', () => {
    probe(A, result('ok', 'primary'));
    probe(B, result('ok', 'replica'));
    expect(primaryEvents()).toEqual([{ type: 'primary-changed', service: { namespace: 'public', group: 'DEFAULT_GROUP', service: 'db' }, from: null, to: ref(3306), reason: 'writable', version: expect.any(String), at: T0 }]);
    expect(hurried).toEqual([[A, 1000], [B, 1000]]);
    expect(tracker.roleOf(A)).toEqual({ role: 'primary', since: T0, fresh: true, ok: true });
    expect(tracker.answer({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'db' })?.answer).toMatchObject({ kind: 'one', primary: A });
  });

  it('keeps the primary through timeouts, confirms the others fast and leaves the suspect alone', () => {
    probe(A, result('ok', 'primary'));
    probe(B, result('ok', 'replica'));
    events = [];
    hurried = [];
    clock += 1000;
    const health = probe(A, result('fail'));
    expect(health).toMatchObject({ healthy: true, failStreak: 1 });
    expect(primaryEvents()).toEqual([]);
    expect(hurried).toEqual([[B, 250]]);
    expect(tracker.stats()).toEqual({ services: 1, fast: 1 });
    clock += 3000;
    expect(tracker.stats()).toEqual({ services: 1, fast: 0 });
  });

  it('follows a failover, raises split brain with both and clears it when one turns read-only', () => {
    probe(A, result('ok', 'primary'));
    probe(B, result('ok', 'replica'));
    events = [];
    clock += 1000;
    probe(A, result('fail-now')); // refused: DOWN at once, role forgotten
    expect(primaryEvents()).toMatchObject([{ type: 'primary-changed', from: ref(3306), to: null, reason: 'all-read-only' }]);
    clock += 250;
    probe(B, result('ok', 'primary'));
    expect(primaryEvents()[1]).toMatchObject({ type: 'primary-changed', from: null, to: ref(3307), reason: 'writable' });
    clock += 250;
    probe(A, result('ok', 'primary')); // back, writable: counted at once although still rising
    expect(primaryEvents().slice(2)).toMatchObject([
      { type: 'primary-changed', from: ref(3307), to: null, reason: 'split-brain' },
      { type: 'split-brain', what: 'raised', candidates: [ref(3306), ref(3307)] },
    ]);
    clock += 250;
    probe(A, result('ok', 'replica'));
    expect(primaryEvents().slice(4)).toMatchObject([
      { type: 'split-brain', what: 'cleared', candidates: [ref(3306), ref(3307)] },
      { type: 'primary-changed', from: null, to: ref(3307), reason: 'writable' },
    ]);
  });

  it('wakes a waiter when the service changes, and answers false on abort', async () => {
    const service = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'db' };
    const woken = tracker.changed(service, 60_000);
    probe(A, result('ok', 'primary'));
    expect(await woken).toBe(true);
    const ac = new AbortController();
    const aborted = tracker.changed(service, 60_000, ac.signal);
    ac.abort();
    expect(await aborted).toBe(false);
    const stopped = tracker.changed(service, 60_000);
    tracker.stop();
    expect(await stopped).toBe(false);
  });

  it('forgets a deregistered instance and announces that the primary is gone', () => {
    probe(A, result('ok', 'primary'));
    probe(B, result('ok', 'replica'));
    events = [];
    registry.deregister(inst(3306));
    expect(tracker.roleOf(A)).toBeUndefined();
    expect(primaryEvents()).toMatchObject([{ type: 'primary-changed', from: ref(3306), to: null, reason: 'all-read-only' }]);
  });

  it('asks at start-up for early probes of the instances that reported a role before a restart', () => {
    const state = registry.peek(A)!.health;
    registry.recordProbe(A, result('ok', 'primary'), state);
    registry.recordProbe(B, result('fail'), state);
    const restarted = createPrimaryTracker({ registry, policy, hurry: (k, ms) => hurried.push([k, ms]), now: () => clock, random: () => 0.5 });
    restarted.start();
    restarted.stop();
    expect(hurried).toEqual([[A, 500]]);
    expect(restarted.roleOf(A)).toBeUndefined();
  });

  it('announces each change of an instance\'s role, and nothing while it stays', () => {
    probe(A, result('ok', 'primary'));
    probe(A, result('ok', 'primary'));
    clock += 1000;
    probe(A, result('ok', 'replica'));
    clock += 1000;
    probe(A, result('fail-now')); // refused: DOWN, the role is no longer known
    const roles = events.filter((e) => e.type === 'role-changed');
    expect(roles.map((e) => [e.from, e.to, e.at - T0])).toEqual([[null, 'primary', 0], ['primary', 'replica', 1000], ['replica', 'unknown', 2000]]);
    expect(roles.every((e) => e.key === A && e.instance.port === 3306)).toBe(true);
  });

  it('ignores probes of instances that report no role', () => {
    probe(A, result('fail'));
    expect(tracker.roleOf(A)).toBeUndefined();
    expect(hurried).toEqual([]);
    expect(tracker.stats()).toEqual({ services: 0, fast: 0 });
  });
});

describe('roles across peers (cluster mode)', () => {
  it('takes the role from a result another node published, and asks for no probe of it', () => {
    const state = registry.peek(A)!.health;
    tracker.observe(A, result('ok', 'primary'), state);
    tracker.observe(B, result('ok', 'replica'), state);
    expect(tracker.roleOf(A)).toEqual({ role: 'primary', since: T0, fresh: true, ok: true });
    expect(tracker.answer({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'db' })?.answer).toMatchObject({ kind: 'one', candidates: [A] });
    expect(primaryEvents()).toMatchObject([{ type: 'primary-changed', to: ref(3306) }]);
    expect(hurried).toEqual([]);
  });

  it('publishes a role the owner read that differs from the one published, with a new version, and the same role only once', async () => {
    const published: Array<{ key: string; version: number; role: unknown }> = [];
    const clustered = createRegistry({
      store,
      healthWriter: { put: () => {}, forget: () => {} },
      now: () => clock,
      publisher: {
        nodeId: 'n1',
        async publish(key, h) {
          published.push({ key, version: h.health.version, role: h.lastProbe?.facts?.role });
          return { epoch: 1 };
        },
        onRefused: () => {},
      },
    });
    const state = clustered.peek(A)!.health;
    clustered.recordProbe(A, result('ok', 'primary'), state);
    await new Promise((r) => setImmediate(r));
    clustered.recordProbe(A, result('ok', 'primary'), clustered.peek(A)!.health);
    clustered.recordProbe(A, result('fail'), clustered.peek(A)!.health);
    await new Promise((r) => setImmediate(r));
    clustered.recordProbe(A, result('ok', 'replica'), clustered.peek(A)!.health);
    await new Promise((r) => setImmediate(r));
    expect(published).toEqual([
      { key: A, version: state.version + 1, role: 'primary' },
      { key: A, version: state.version + 2, role: 'replica' },
    ]);
    expect(clustered.decidedByNode(A)).toBe('n1');
  });
});
