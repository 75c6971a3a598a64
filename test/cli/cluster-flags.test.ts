/**
 * `vigil start` with cluster options that cannot work refuses in one line, before it opens any
 * store: cluster options with the embedded store, the shared store without a node id or secret.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
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
});
