import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../src/health/contract.js';
import { applyProbe, initialState, setOverride, DEFAULT_THRESHOLDS } from '../../src/health/state-machine.js';
import { createHealthWriter } from '../../src/registry/health-writer.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

const T = Date.UTC(2026, 11, 3, 15, 0, 0, 7);
const dirs: string[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  dirs.splice(0).forEach(removeDir);
});

function open(dir: string) {
  const store = openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  const healthWriter = createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 5, maxBatch: 100 });
  const registry = createRegistry({ store, healthWriter, now: () => T });
  const close = async () => {
    await healthWriter.close();
    await store.close();
  };
  return { registry, healthWriter, close };
}

const inst = (port: number, over: Partial<Instance> = {}): Instance => ({
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'orders', cluster: 'DEFAULT', ip: '127.0.0.1', port,
  weight: 1, enabled: true, ephemeral: false, metadata: { zone: 'a' }, registeredAt: T, ...over,
});

describe('registry records packed in the record table', () => {
  it('stores health and last probe through the store and reads them back the same after a restart', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = open(dir);
    const plain: ProbeResult = { status: 'fail', reason: 'refused', type: 'tcp', latencyMs: 0.25, startedAt: T + 1 };
    const rich: ProbeResult = { status: 'ok', reason: 'responded', detail: 'HTTP/1.1 200 OK', facts: { httpStatus: 200 }, type: 'http', latencyMs: 3.5, startedAt: T + 2 };
    const a = first.registry.register(inst(1)).record;
    const b = first.registry.register(inst(2, { metadata: {} })).record;
    const ka = instanceKey(a.instance);
    const kb = instanceKey(b.instance);
    const down = applyProbe(a.health, 'fail-now', 'refused', T + 1, DEFAULT_THRESHOLDS);
    first.registry.setHealth(ka, down.state, down.change, plain);
    const held = setOverride(b.health, { healthy: false, until: T + 3_600_000, by: 'ops', reason: 'deploy' }, T + 2);
    first.registry.setHealth(kb, held.state, held.change, rich);
    const before = [first.registry.get(ka), first.registry.get(kb)];
    expect(before[0]).toStrictEqual({ instance: a.instance, health: down.state, lastProbe: plain });
    expect(before[1]).toStrictEqual({ instance: b.instance, health: held.state, lastProbe: rich });
    await first.healthWriter.flush();
    await first.close();

    const second = open(dir);
    closers.push(second.close);
    expect(second.registry.get(ka)).toStrictEqual(before[0]);
    expect(second.registry.get(kb)).toStrictEqual(before[1]);
  });

  it('shows each new probe through peek, while a record taken with get keeps what it was', () => {
    const dir = tempDir();
    dirs.push(dir);
    const { registry, close } = open(dir);
    closers.push(close);
    const key = instanceKey(registry.register(inst(3)).record.instance);
    const live = registry.peek(key)!;
    const taken = registry.get(key)!;
    let h = live.health;
    for (let i = 1; i <= 3; i++) {
      const next = applyProbe(h, 'ok', 'connected', T + i, DEFAULT_THRESHOLDS).state;
      registry.recordProbe(key, { status: 'ok', reason: 'connected', type: 'tcp', latencyMs: i, startedAt: T + i }, next);
      h = next;
    }
    expect(live.health).toStrictEqual(h);
    expect(live.health.okStreak).toBe(3);
    expect(live.lastProbe).toStrictEqual({ status: 'ok', reason: 'connected', type: 'tcp', latencyMs: 3, startedAt: T + 3 });
    expect(taken.health).toStrictEqual(initialState(T));
    expect(taken.lastProbe).toBeUndefined();
  });

  it('a record still held after its instance left keeps its own health when a new instance takes the slot', () => {
    const dir = tempDir();
    dirs.push(dir);
    const { registry, close } = open(dir);
    closers.push(close);
    const gone = registry.register(inst(4)).record.instance;
    const key = instanceKey(gone);
    const down = applyProbe(registry.peek(key)!.health, 'fail-now', 'refused', T + 5, DEFAULT_THRESHOLDS);
    const probe: ProbeResult = { status: 'fail-now', reason: 'refused', type: 'tcp', latencyMs: 1, startedAt: T + 5 };
    registry.setHealth(key, down.state, down.change, probe);
    const held = registry.peek(key)!;
    registry.deregister(gone);
    const other = registry.register(inst(5)).record.instance;
    expect(registry.peek(instanceKey(other))!.health).toStrictEqual(initialState(T));
    expect(held.health).toStrictEqual(down.state);
    expect(held.lastProbe).toStrictEqual(probe);
    // Registered again: a fresh record, packed again, with the initial health.
    const again = registry.register(inst(4)).record;
    expect(again.health).toStrictEqual(initialState(T));
    expect(registry.peek(key)).not.toBe(held);
  });

  it('shares one object per distinct checker config and one empty metadata, and gives back equal instances', () => {
    const dir = tempDir();
    dirs.push(dir);
    const { registry, close } = open(dir);
    closers.push(close);
    const cfg = () => Object.freeze({ type: 'tcp', options: Object.freeze({ send: 'PING' }), intervalMs: 2000 });
    const a = inst(6, { metadata: {}, checker: cfg() });
    const b = inst(7, { metadata: {}, checker: cfg() });
    const c = inst(8, { checker: Object.freeze({ type: 'tcp', options: Object.freeze({}), intervalMs: 3000 }) });
    const [ra, rb, rc] = [a, b, c].map((i) => registry.register(i).record);
    expect([ra!.instance, rb!.instance, rc!.instance]).toStrictEqual([a, b, c]);
    expect(rb!.instance.checker).toBe(ra!.instance.checker);
    expect(rc!.instance.checker).not.toBe(ra!.instance.checker);
    expect(rb!.instance.metadata).toBe(ra!.instance.metadata);
    expect(rc!.instance.metadata).toStrictEqual({ zone: 'a' });
    expect(registry.resolveChecker(registry.peek(instanceKey(b))!.instance)).toStrictEqual(cfg());
  });

  it('reads health in place (peekHealth) with the same fields and the same transitions as the built HealthState', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { registry, close } = open(dir);
    closers.push(close);
    const key = instanceKey(registry.register(inst(3)).record.instance);
    const FIELDS = ['healthy', 'since', 'version', 'okStreak', 'failStreak', 'reason', 'decidedBy'] as const;
    const fieldsOf = (h: object) => Object.fromEntries(FIELDS.map((f) => [f, (h as Record<string, unknown>)[f]]));
    // Through a fall (fail, fail, fail), a rise and steady oks: each step from the view equals the step from the copy.
    for (const [i, verdict] of (['fail', 'fail', 'fail', 'ok', 'ok', 'ok', 'ok'] as const).entries()) {
      const rec = registry.peek(key)!;
      const view = rec.peekHealth();
      const copy = rec.health;
      expect(fieldsOf(view)).toEqual(fieldsOf(copy));
      const fromView = applyProbe(view, verdict, verdict === 'ok' ? 'connected' : 'refused', T + 10 + i, DEFAULT_THRESHOLDS);
      const fromCopy = applyProbe(copy, verdict, verdict === 'ok' ? 'connected' : 'refused', T + 10 + i, DEFAULT_THRESHOLDS);
      expect(fromView).toStrictEqual(fromCopy);
      expect(Object.keys(fromView.state)).toEqual([...FIELDS]); // nothing of the record leaks into the state
      if (fromView.change) registry.setHealth(key, fromView.state, fromView.change);
      else registry.recordProbe(key, { status: verdict, reason: 'x', type: 'tcp', latencyMs: 1, startedAt: T + 10 + i }, fromView.state);
    }
    expect(registry.peek(key)!.peekHealth()).toMatchObject({ healthy: true, okStreak: 4, failStreak: 0 });

    // With an override the view is the built HealthState, override and all.
    const held = setOverride(registry.peek(key)!.health, { healthy: false, by: 'ops', reason: 'deploy' }, T + 20);
    registry.setHealth(key, held.state, held.change);
    const view = registry.peek(key)!.peekHealth();
    expect(Object.isFrozen(view)).toBe(true);
    expect(view).toStrictEqual(registry.peek(key)!.health);
    expect(view.override).toMatchObject({ healthy: false, by: 'ops' });
  });
});
