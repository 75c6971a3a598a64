/** The companion's pure decisions, with literal inputs and times. */
import { describe, expect, it } from 'vitest';
import { builtinCheckers } from '../../checkers/index.js';
import { createCheckerMapping, parseOverrides } from '../../src/companion/checker-mapping.js';
import { planMirror, type Discovered } from '../../src/companion/diff.js';
import { parseServerAddr } from '../../src/companion/http.js';
import { seedNew, seededState, toInstance } from '../../src/companion/mirror.js';
import { delayFor } from '../../src/companion/rate-limit.js';
import { createCheckerRegistry } from '../../src/health/checker-registry.js';
import { applyProbe } from '../../src/health/state-machine.js';
import { instanceKey, serviceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry } from '../../src/registry/registry.js';
import { parseCheckerConfig, type CheckerPolicy } from '../../src/registry/validate.js';

const checkers = createCheckerRegistry(builtinCheckers);
const OPERATOR: CheckerPolicy = { fromApi: false, anyTarget: true, credentials: { has: () => false } };
const SERVER: CheckerPolicy = { fromApi: true, credentials: { has: () => false } };
const TCP = parseCheckerConfig(checkers, { type: 'tcp' }, OPERATOR);
const SVC = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'orders' };

function discovered(port: number, over: Partial<Discovered> = {}): Discovered {
  const id = { ...SVC, cluster: 'DEFAULT', ip: '10.0.0.1', port };
  return { key: instanceKey(id), id, serverHealthy: true, serverViewReliable: true, weight: 1, enabled: true, metadata: {}, checker: { config: TCP, source: 'default', declared: 'TCP' }, ...over };
}

function local(d: Discovered): Instance {
  return { ...d.id, weight: d.weight, enabled: d.enabled, ephemeral: false, metadata: d.metadata, checker: d.checker.config, registeredAt: 0 };
}

describe('rate limit', () => {
  it('lets a full bucket through at once and then spaces requests by 1/perSecond', () => {
    const limit = { perSecond: 10, burst: 2 };
    const b = { tokens: 2, at: 0 };
    expect(delayFor(b, limit, 0)).toBe(0);
    b.tokens -= 1;
    expect(delayFor(b, limit, 0)).toBe(0);
    b.tokens -= 1;
    expect(delayFor(b, limit, 0)).toBe(100);
    expect(delayFor(b, limit, 50)).toBe(50);
    expect(delayFor(b, limit, 100)).toBe(0);
  });

  it('never stores more than the burst however long it was quiet', () => {
    const b = { tokens: 0, at: 0 };
    delayFor(b, { perSecond: 10, burst: 3 }, 3_600_000);
    expect(b.tokens).toBe(3);
  });
});

describe('serverAddr', () => {
  it('splits host:port lists, adds Nacos\'s port to bare hosts and keeps URLs', () => {
    expect(parseServerAddr('127.0.0.1:8848, 127.0.0.2 ,http://127.0.0.3:80/')).toEqual(['http://127.0.0.1:8848', 'http://127.0.0.2:8848', 'http://127.0.0.3']);
    expect(parseServerAddr('[::1]:9000')).toEqual(['http://[::1]:9000']);
    expect(parseServerAddr('127.0.0.1:80,[::1]')).toEqual(['http://127.0.0.1:80', 'http://[::1]:8848']);
    for (const bad of [' , ', '127.0.0.1:99999', 'http://', 'host:8848/nacos', 'user@host:1']) {
      expect(() => parseServerAddr(bad), bad).toThrow(expect.objectContaining({ code: 'VIGIL_ERR_CONFIG_INVALID', field: 'source.nacos.serverAddr' }));
    }
  });
});

describe('mirror plan', () => {
  it('adds the new, updates the changed and leaves the same alone', () => {
    const same = discovered(1);
    const changed = discovered(2, { weight: 5 });
    const fresh = discovered(3);
    const cur = new Map([[same.key, local(same)], [changed.key, local(discovered(2))]]);
    const snap = { instances: new Map([same, changed, fresh].map((d) => [d.key, d])), failedServices: new Set<string>(), complete: true };
    expect(planMirror(cur, snap, serviceKey)).toEqual({ add: [fresh], update: [changed], drop: [] });
  });

  it('drops what the server no longer lists, but nothing of a service that could not be read, nor after an incomplete poll', () => {
    const gone = discovered(1);
    const cur = new Map([[gone.key, local(gone)]]);
    const empty = new Map<string, Discovered>();
    expect(planMirror(cur, { instances: empty, failedServices: new Set(), complete: true }, serviceKey).drop).toEqual([gone.key]);
    expect(planMirror(cur, { instances: empty, failedServices: new Set([serviceKey(SVC)]), complete: true }, serviceKey).drop).toEqual([]);
    expect(planMirror(cur, { instances: empty, failedServices: new Set(), complete: false }, serviceKey).drop).toEqual([]);
  });

  it('sees a changed checker as a change', () => {
    const before = discovered(1);
    const after = discovered(1, { checker: { config: parseCheckerConfig(checkers, { type: 'http' }, SERVER), source: 'cluster', declared: 'HTTP' } });
    const snap = { instances: new Map([[after.key, after]]), failedServices: new Set<string>(), complete: true };
    expect(planMirror(new Map([[before.key, local(before)]]), snap, serviceKey).update).toEqual([after]);
  });
});

describe('seeded health', () => {
  const t = { rise: 3, fall: 3 };
  it('starts from the server\'s view, and the first probe that disagrees flips it', () => {
    const up = seededState(true, 0, t, true);
    expect(up.healthy).toBe(true);
    expect(applyProbe(up, 'fail', 'timeout', 1, t).change?.to).toBe(false);
    const down = seededState(false, 0, t, true);
    expect(applyProbe(down, 'ok', 'connected', 1, t).change?.to).toBe(true);
  });

  it('keeps the full rise/fall when firstProbeDecides is off', () => {
    const up = seededState(true, 0, t, false);
    expect(applyProbe(up, 'fail', 'timeout', 1, t).change).toBeUndefined();
  });
});

describe('seeding with peers', () => {
  const t = { rise: 3, fall: 3 };
  const noWrites = { putInstance() {}, deleteInstance() {}, putCheckerConfig() {}, deleteCheckerConfig() {}, putWhitelist() {}, deleteWhitelist() {}, putSwitch() {} };
  const EMPTY = { instances: [], checkerConfigs: [], whitelist: [], switches: {} };

  it('lets an instance of another node follow the server without an event, and seeds it afresh when it becomes this node\'s', () => {
    const registry = createRegistry({ store: noWrites, snapshot: EMPTY, healthWriter: { put() {}, forget() {} }, now: () => 0 });
    const d = discovered(1);
    registry.register(toInstance(d, 0));
    const events: string[] = [];
    registry.subscribe((e) => events.push(e.type));
    const seen = new Set<string>();
    const deps = { registry, now: () => 10, thresholds: () => t, firstProbeDecides: false, seen };

    seedNew([discovered(1, { serverHealthy: false })], deps, () => false);
    expect(registry.peek(d.key)!.health.healthy).toBe(false);
    expect(seen.has(d.key)).toBe(false);
    // The list's all-healthy view past the protect threshold is not followed.
    seedNew([discovered(1, { serverHealthy: true, serverViewReliable: false })], deps, () => false);
    expect(registry.peek(d.key)!.health.healthy).toBe(false);

    seedNew([discovered(1, { serverHealthy: true })], deps, () => true);
    expect(registry.peek(d.key)!.health).toMatchObject({ healthy: true, okStreak: 0, failStreak: 0 });
    expect(seen.has(d.key)).toBe(true);
    // This node's now: its probes decide, a later server view does not re-seed it.
    seedNew([discovered(1, { serverHealthy: false })], deps, () => true);
    expect(registry.peek(d.key)!.health.healthy).toBe(true);
    expect(events.filter((e) => e === 'health-changed')).toEqual([]);
  });
});

describe('checker mapping', () => {
  const http = { name: 'DEFAULT', healthChecker: { type: 'HTTP', path: '/health', headers: '', expectedResponseCode: 200, extra: 'ignored' } };
  it('uses the service override, else the cluster\'s checker, else checks.checker', () => {
    const overrides = parseOverrides(checkers, { 'DEFAULT_GROUP@@billing': { type: 'http', options: { path: '/ready' } } }, OPERATOR);
    const m = createCheckerMapping(checkers, overrides, TCP, SERVER);
    expect(m.map({ ...SVC, service: 'billing' }, 'DEFAULT', http)).toMatchObject({ source: 'override', config: { type: 'http', options: { path: '/ready' } }, declared: 'HTTP' });
    expect(m.map(SVC, 'DEFAULT', http)).toMatchObject({ source: 'cluster', config: { type: 'http', options: { path: '/health' } } });
    expect(m.map(SVC, 'OTHER', undefined)).toMatchObject({ source: 'default', config: TCP, declared: '' });
  });

  it('keeps probing an adopted (NONE) cluster with the checker it declared before', () => {
    const m = createCheckerMapping(checkers, new Map(), TCP, SERVER);
    m.map(SVC, 'DEFAULT', http);
    expect(m.map(SVC, 'DEFAULT', { name: 'DEFAULT', healthChecker: { type: 'NONE' } })).toMatchObject({ source: 'remembered', declared: 'NONE', config: { type: 'http' } });
    expect(m.map({ ...SVC, service: 'new' }, 'DEFAULT', { name: 'DEFAULT', healthChecker: { type: 'NONE' } })).toMatchObject({ source: 'default' });
  });

  it('falls back to checks.checker, saying why, when the cluster\'s checker cannot be mapped', () => {
    const m = createCheckerMapping(checkers, new Map(), TCP, SERVER);
    const bad = m.map(SVC, 'DEFAULT', { name: 'DEFAULT', healthChecker: { type: 'HTTP', expectedResponseCode: 99 } });
    expect(bad).toMatchObject({ source: 'default', config: TCP, problem: expect.stringContaining('expectedResponseCode') });
  });

  it('probes the cluster\'s check port when it does not use the instance port (Nacos 1.x and 2.x field names)', () => {
    const m = createCheckerMapping(checkers, new Map(), TCP, SERVER);
    expect(m.map(SVC, 'A', { name: 'A', healthChecker: { type: 'TCP' }, useIPPort4Check: false, defaultCheckPort: 9000 }).config.port).toBe(9000);
    expect(m.map(SVC, 'B', { name: 'B', healthChecker: { type: 'TCP' }, useInstancePortForCheck: false, healthyCheckPort: 9001 }).config.port).toBe(9001);
  });
});
