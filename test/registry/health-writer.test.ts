import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initialState, type HealthState } from '../../src/health/state-machine.js';
import { createHealthWriter, type HealthWriter } from '../../src/registry/health-writer.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import type { Store } from '../../src/registry/store.js';
import { execFileSync } from 'node:child_process';
import { REPO, ensureBuilt, removeDir, tempDir, waitFor } from '../helpers/daemon.js';

const T0 = 1_700_000_000_000;
const instance = (i: number): Instance => ({
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'db', cluster: 'DEFAULT',
  ip: '127.0.0.1', port: 10_000 + i, weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: T0,
});
const down = (version: number): HealthState => ({ ...initialState(T0), healthy: false, version, reason: 'refused', decidedBy: 'checker' });

let dir: string;
let store: Store;
let writer: HealthWriter;
const errors: unknown[] = [];

function open(): void {
  store = openSqliteStore({ dataDir: dir });
  const logger = { error: (o: unknown) => void errors.push(o), info: () => {} };
  writer = createHealthWriter({ store, logger: logger as never, batchMs: 5, maxBatch: 1000, retryMs: 5 });
}

/** Closes writer and store as a stopping daemon does, reads the data dir again, then reopens for the next step. */
async function afterRestart(check: (loaded: Store) => void): Promise<void> {
  await writer.close();
  await store.close();
  const again = openSqliteStore({ dataDir: dir });
  try {
    check(again);
  } finally {
    await again.close();
    open();
  }
}

beforeEach(() => {
  dir = tempDir('vigil-writer-');
  errors.length = 0;
  open();
});

afterEach(async () => {
  await writer.close().catch(() => {});
  await store.close();
  removeDir(dir);
});

describe('health writer (group commit into the real SQLite store)', () => {
  it('writes 2,000 flips in two batches and the store holds every one after a restart', async () => {
    for (let i = 0; i < 2000; i++) store.putInstance(instanceKey(instance(i)), instance(i), { health: initialState(T0) });
    for (let i = 0; i < 2000; i++) writer.put(instanceKey(instance(i)), { health: down(2) });
    await writer.flush();
    expect(writer.stats.batches).toBe(2);
    expect(writer.stats.pending).toBe(0);
    await afterRestart((again) => {
      const loaded = again.load().instances;
      expect(loaded).toHaveLength(2000);
      expect(loaded.every((r) => r.health?.health.healthy === false && r.health.health.version === 2)).toBe(true);
    });
  });

  it('writes only the newest change of an instance', async () => {
    const key = instanceKey(instance(1));
    store.putInstance(key, instance(1), { health: initialState(T0) });
    writer.put(key, { health: down(2) });
    writer.put(key, { health: { ...down(3), healthy: true } });
    expect(writer.stats.pending).toBe(1);
    await writer.flush();
    await afterRestart((again) => expect(again.load().instances[0]!.health?.health).toMatchObject({ healthy: true, version: 3 }));
  });

  it('logs a failed batch and retries it until the store takes it', async () => {
    const key = instanceKey(instance(1));
    store.putInstance(key, instance(1), { health: initialState(T0) });
    // Break the store for real: another connection renames the health table away.
    const other = new Database(join(dir, 'vigil.db'));
    other.exec('ALTER TABLE health RENAME TO health_away');
    writer.put(key, { health: down(2) });
    await waitFor(() => writer.stats.failures >= 2, 10_000, 5);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toMatchObject({ entries: 1 });
    expect(writer.stats.pending).toBe(1);
    other.exec('ALTER TABLE health_away RENAME TO health');
    other.close();
    await waitFor(() => writer.stats.batches >= 1 && writer.stats.pending === 0, 10_000, 5);
    await afterRestart((again) => expect(again.load().instances[0]!.health?.health).toMatchObject({ healthy: false, version: 2 }));
  });

  it('does not bring back the health row of an instance deleted before its batch landed', async () => {
    const key = instanceKey(instance(1));
    store.putInstance(key, instance(1), { health: initialState(T0) });
    store.deleteInstance(key);
    await store.putHealthBatch([{ key, health: { health: down(2) } }]);
    const raw = new Database(join(dir, 'vigil.db'), { readonly: true });
    try {
      expect(raw.prepare('SELECT count(*) AS n FROM health').get()).toEqual({ n: 0 });
    } finally {
      raw.close();
    }
  });

  it('keeps a process alive until its last batch is written, with nothing else to wait for', () => {
    ensureBuilt();
    // A process whose only pending work is the batch: the writer thread must hold the loop open.
    const script = `
      import { openSqliteStore } from '${REPO}/dist/src/registry/sqlite-store.js';
      import { createHealthWriter } from '${REPO}/dist/src/registry/health-writer.js';
      const store = openSqliteStore({ dataDir: process.argv[1] });
      const inst = ${JSON.stringify(instance(7))};
      store.putInstance('k7', inst, { health: { version: 1 } });
      const writer = createHealthWriter({ store, logger: console, batchMs: 5, maxBatch: 10 });
      writer.put('k7', { health: { version: 9 } });
      await writer.close();
      await store.close();
      console.log('closed');`;
    const sub = tempDir('vigil-writer-proc-');
    try {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, sub], { encoding: 'utf8' });
      expect(out).toBe('closed\n');
      const raw = new Database(join(sub, 'vigil.db'), { readonly: true });
      try {
        expect(JSON.parse((raw.prepare("SELECT value FROM health WHERE key = 'k7'").get() as { value: string }).value)).toEqual({ health: { version: 9 } });
      } finally {
        raw.close();
      }
    } finally {
      removeDir(sub);
    }
  });
});
