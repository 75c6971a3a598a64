/** The companion keeps instances in memory only, and what an operator set on it on disk. */
import { afterEach, describe, expect, it } from 'vitest';
import { workingStore } from '../../src/companion/working-store.js';
import { initialState } from '../../src/health/state-machine.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

describe('companion working store', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('forgets instances and their health across a restart but keeps whitelist and switches', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = workingStore(openSqliteStore({ dataDir: dir, synchronous: 'normal' }));
    const inst = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'db', cluster: 'DEFAULT', ip: '127.0.0.1', port: 3306, weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: 0 };
    first.putInstance('k', inst, { health: initialState(0) });
    await first.putHealthBatch([{ key: 'k', health: { health: initialState(1, false) } }]);
    first.putWhitelist({ id: 'w1', service: 'db', reason: 'deploy', createdAt: 0 });
    first.putSwitch('activeChecks', false);
    await first.close();

    const again = workingStore(openSqliteStore({ dataDir: dir, synchronous: 'normal' }));
    const snap = again.load();
    await again.close();
    expect(snap.instances).toEqual([]);
    expect(snap.whitelist.map((e) => e.id)).toEqual(['w1']);
    expect(snap.switches).toEqual({ activeChecks: false });
    // Underneath, the disk really holds no instance either.
    const raw = openSqliteStore({ dataDir: dir, synchronous: 'normal' });
    expect(raw.load().instances).toEqual([]);
    await raw.close();
  });
});
