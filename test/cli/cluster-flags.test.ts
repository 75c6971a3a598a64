/**
 * `vigil start` with cluster options that cannot work refuses in one line, before it opens any
 * store: cluster options with the embedded store, the shared store without a node id or secret,
 * lease timings that contradict each other.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, removeDir, tempDir } from '../helpers/daemon.js';

const run = promisify(execFile);

async function start(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [CLI, 'start', '--port', '0', ...args], { timeout: 20_000, env: { ...process.env, VIGIL_CLUSTER_SECRET: '', ...env } });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('vigil start with cluster options', () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt();
    dir = tempDir();
  });
  afterAll(() => removeDir(dir));

  it('refuses --node-id with the embedded store in one line and touches no data', async () => {
    const data = `${dir}/embedded`;
    const r = await start(['--data', data, '--node-id', 'n1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/VIGIL_ERR_CONFIG_INVALID: cluster\.nodeId: .*embedded store/);
    expect(existsSync(data) ? readdirSync(data) : []).toEqual([]);
  });

  it('refuses --store without --node-id, and without a cluster secret, in one line', async () => {
    const store = 'mysql://vigil:pw@127.0.0.1:1/vigil';
    const noId = await start(['--store', store], { VIGIL_CLUSTER_SECRET: 'a-secret-long-enough' });
    expect(noId.stderr).toMatch(/^vigil: VIGIL_ERR_CONFIG_INVALID: cluster\.nodeId: /);
    const noSecret = await start(['--store', store, '--node-id', 'n1']);
    expect(noSecret.stderr).toMatch(/^vigil: VIGIL_ERR_CONFIG_INVALID: cluster\.secret: /);
    expect(noSecret.stderr.trim().split('\n')).toHaveLength(1);
    // The password of the store URL is never echoed.
    expect(noId.stderr + noSecret.stderr).not.toContain(':pw@');
  });

  it.each([
    [{ memberTimeoutMs: 1000, leaseRenewMs: 1000 }, 'cluster.leaseRenewMs', /lapses between two rounds/],
    [{ memberTimeoutMs: 1000, leaseRenewMs: 2000, leaseMarginMs: 100 }, 'cluster.leaseRenewMs', /lapses between two rounds/],
    [{ memberTimeoutMs: 3000, leaseRenewMs: 500, leaseMarginMs: 3000 }, 'cluster.leaseMarginMs', /no lease would ever be trusted/],
    [{ memberTimeoutMs: 3000, leaseRenewMs: 2000, leaseMarginMs: 1000 }, 'cluster.leaseRenewMs', /leaseRenewMs \+ leaseMarginMs must be below cluster\.memberTimeoutMs/],
    [{ pollWindowMs: 5000, tombstoneRetentionMs: 5000 }, 'cluster.tombstoneRetentionMs', /above cluster\.pollWindowMs/],
  ])('refuses contradictory cluster timings %j in one line naming %s, before it opens the store', async (timings, field, why) => {
    const file = `${dir}/timings-${field}-${Object.values(timings).join('-')}.yaml`;
    writeFileSync(file, JSON.stringify({ cluster: { nodeId: 'n1', ...timings } }));
    // Nothing listens on port 1: reaching the store at all would fail with another code.
    const r = await start(['--config', file, '--store', 'mysql://vigil:pw@127.0.0.1:1/vigil'], { VIGIL_CLUSTER_SECRET: 'a-secret-long-enough' });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^vigil: VIGIL_ERR_CONFIG_INVALID: ${field.replace('.', '\\.')}: `));
    expect(r.stderr).toMatch(why);
  });

  it('starts with the default cluster timings (they meet every rule)', async () => {
    // Refused for the unreachable store, not for the configuration.
    const r = await start(['--store', 'mysql://vigil:pw@127.0.0.1:1/vigil', '--node-id', 'n1'], { VIGIL_CLUSTER_SECRET: 'a-secret-long-enough' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(/VIGIL_ERR_CONFIG_INVALID/);
    expect(r.stderr).toMatch(/VIGIL_ERR_STORE/);
  });
});

