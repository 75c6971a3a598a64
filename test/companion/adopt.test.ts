/** `vigil nacos adopt <service>` against a vigil registry: every cluster of the service set to NONE. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, removeDir, type Daemon } from '../helpers/daemon.js';
import { hostPort, nacosCall, register, startRegistry } from './helpers.js';

const run = promisify(execFile);

describe('vigil nacos adopt', () => {
  let registry: Daemon;
  beforeAll(async () => {
    registry = await startRegistry();
    await register(registry.url, 'web', 9101, { cluster: 'C1' });
    await register(registry.url, 'web', 9102, { cluster: 'C2' });
    const hc = JSON.stringify({ type: 'HTTP', path: '/health', headers: '', expectedResponseCode: 200 });
    expect((await nacosCall(registry.url, 'PUT', '/cluster', { serviceName: 'DEFAULT_GROUP@@web', clusterName: 'C1', healthChecker: hc })).status).toBe(200);
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
    if (registry) removeDir(registry.dataDir);
  });

  it('sets every cluster of the service to NONE and prints what each had', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'nacos', 'adopt', 'web', '--nacos-server', hostPort(registry.url)]);
    expect(stdout).toBe(
      'C1: was {"type":"HTTP","path":"/health","headers":"","expectedResponseCode":200}, now NONE\n' + 'C2: was {"type":"TCP"}, now NONE\n',
    );
    const detail = JSON.parse((await nacosCall(registry.url, 'GET', '/service', { serviceName: 'DEFAULT_GROUP@@web' })).text);
    expect(detail.clusters.map((c: any) => [c.name, c.healthChecker.type])).toEqual([
      ['C1', 'NONE'],
      ['C2', 'NONE'],
    ]);
    const again = await run(process.execPath, [CLI, 'nacos', 'adopt', 'web', '--nacos-server', hostPort(registry.url)]);
    expect(again.stdout).toBe('C1: already NONE\nC2: already NONE\n');
  });

  it('fails with a message for a service the server does not know', async () => {
    const r = await run(process.execPath, [CLI, 'nacos', 'adopt', 'nope', '--nacos-server', hostPort(registry.url)]).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringContaining('has no clusters') });
  });
});
