/**
 * The registry over the shared MySQL store (a private MariaDB): a write changes memory and is
 * announced only after the store committed it; a write the store cannot take (server stopped)
 * rejects with VIGIL_ERR_STORE and changes nothing; changes from elsewhere enter through the apply
 * path, marked with their origin.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isVigilError } from '../../src/errors.js';
import { openMysqlStore, type MysqlStore } from '../../src/registry/mysql-store.js';
import { createRegistry, type Registry, type RegistryEvent } from '../../src/registry/registry.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { instance } from '../helpers/store-fixtures.js';

const noHealthWriter = { put: () => {}, forget: () => {} };

describeMariaDb('registry on the MySQL store', () => {
  let server: MariaDb;
  let store: MysqlStore;
  let registry: Registry;
  const events: RegistryEvent[] = [];
  let stoppedPid: number | undefined;

  beforeAll(async () => {
    server = await startMariaDb();
    store = await openMysqlStore({ url: await freshDatabase(server, 'registry'), queryTimeoutMs: 500, connectTimeoutMs: 500 });
    registry = createRegistry({ store, snapshot: await store.load(), healthWriter: noHealthWriter });
    registry.subscribe((e) => events.push(e));
  });
  afterAll(async () => {
    if (stoppedPid !== undefined) process.kill(stoppedPid, 'SIGCONT');
    await store?.close();
    await server?.stop();
  });

  it('changes memory and announces a registration only once the store committed it', async () => {
    const a = instance('10.0.0.1');
    registry.register(a.instance);
    // Not yet committed: neither memory nor the listeners know of it.
    expect(registry.get(a.key)).toBeUndefined();
    expect(events).toHaveLength(0);
    await registry.committed();
    expect(registry.get(a.key)?.instance.ip).toBe('10.0.0.1');
    expect(events.map((e) => e.type)).toEqual(['instance-registered']);
    expect((await store.load()).instances.map((i) => i.key)).toEqual([a.key]);
  });

  it('rejects a registration the stopped database cannot take with VIGIL_ERR_STORE, and changes nothing', async () => {
    const b = instance('10.0.0.2');
    const before = events.length;
    stoppedPid = Number(readFileSync(join(server.dir, 'mariadbd.pid'), 'utf8').trim());
    process.kill(stoppedPid, 'SIGSTOP');
    try {
      registry.register(b.instance);
      const err = await registry.committed().then(() => undefined, (e: unknown) => e);
      expect(isVigilError(err, 'VIGIL_ERR_STORE'), String(err)).toBe(true);
    } finally {
      process.kill(stoppedPid, 'SIGCONT');
      stoppedPid = undefined;
    }
    expect(registry.get(b.key)).toBeUndefined();
    expect(events.length).toBe(before);
    expect((await store.load()).instances.map((i) => i.key)).not.toContain(b.key);
  });

  it('applies instances and health from elsewhere with origin peer, and holds their stamp', () => {
    const c = instance('10.0.0.3');
    registry.applyInstance(c.key, c.instance);
    const h = { healthy: false, since: 5, version: 7, okStreak: 0, failStreak: 3, reason: 'refused', decidedBy: 'checker' as const };
    registry.applyHealth({ key: c.key, health: { health: h }, epoch: 4, decidedByNode: 'n2' });
    const mine = events.filter((e) => 'key' in e && e.key === c.key);
    expect(mine.map((e) => [e.type, 'origin' in e ? e.origin : undefined])).toEqual([
      ['instance-registered', 'peer'],
      ['health-changed', 'peer'],
    ]);
    expect(registry.stampOf(c.key)).toEqual({ epoch: 4, version: 7 });
    expect(registry.decidedByNode(c.key)).toBe('n2');
    registry.applyInstance(c.key, null);
    expect(registry.get(c.key)).toBeUndefined();
  });

  it('takes settings another node stored as a difference: one event per entry changed, origin peer, none when nothing moved', async () => {
    const scope = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc' };
    registry.setSwitch('activeChecks', true);
    registry.putWhitelist({ id: 'kept', service: 'svc', reason: 'mine', createdAt: 1 });
    registry.putWhitelist({ id: 'dropped', service: 'svc', reason: 'mine', createdAt: 1 });
    await registry.committed();
    const generation = registry.generation;
    // Another node: switches off, drops one entry, sets a checker for the service.
    await store.putSwitch('activeChecks', false);
    await store.deleteWhitelist('dropped');
    await store.putCheckerConfig('public/DEFAULT_GROUP@@svc', { scope, config: { type: 'tcp', port: 9 } });
    const before = events.length;
    expect(registry.applySettings(await store.settings())).toBe(3);
    expect(events.slice(before).map((e) => [e.type, 'origin' in e ? e.origin : undefined])).toEqual([
      ['checker-config-changed', 'peer'],
      ['whitelist-changed', 'peer'],
      ['switch-changed', 'peer'],
    ]);
    expect(registry.getSwitch('activeChecks')).toBe(false);
    expect(registry.whitelist().map((e) => e.id)).toEqual(['kept']);
    expect(registry.resolveChecker(instance('10.0.0.9', 3306, 'svc').instance)).toEqual({ type: 'tcp', port: 9 });
    // Cached probe plans must notice the new checker.
    expect(registry.generation).toBeGreaterThan(generation);
    expect(registry.applySettings(await store.settings())).toBe(0);
    expect(events.length).toBe(before + 3);
  });
});

