import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { api, removeDir, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { startTcpServer, type TestServer } from '../helpers/servers.js';

const plugin = fileURLToPath(new URL('../fixtures/plugins/pool-probe.mjs', import.meta.url));

const daemons: Daemon[] = [];
const dirs: string[] = [];
const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.kill()));
  for (const d of dirs.splice(0)) removeDir(d);
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function daemon(workers: number, nodeArgs: readonly string[] = []): Promise<Daemon> {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const d = await startDaemon({
    dataDir,
    nodeArgs,
    config: { log: { level: 'warn' }, plugins: [plugin], checks: { workers, intervalMs: 200, fastIntervalMs: 200, downIntervalMs: 200, timeoutMs: 150, jitter: 0 } },
  });
  daemons.push(d);
  return d;
}

async function lastProbe(d: Daemon, service: string): Promise<{ reason: string; facts: Record<string, unknown> } | undefined> {
  const { body } = await api(d.url, 'GET', `/v1/instances?service=${service}`);
  return body.instances?.[0]?.lastProbe ?? undefined;
}

describe('a daemon with probe workers (checks.workers)', () => {
  it('probes through its worker thread, a plugin included, and ends the thread when it stops', async () => {
    const d = await daemon(1);
    const reg = await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    expect(reg.status).toBe(201);
    const probe = await waitFor(async () => (await lastProbe(d, 'where'))?.reason === 'ran' && lastProbe(d, 'where'), 20_000, 20);
    expect(probe?.facts).toMatchObject({ mainThread: false });

    const target = await startTcpServer();
    servers.push(target);
    await api(d.url, 'POST', '/v1/instances', { service: 'tcp', ip: '127.0.0.1', port: target.port, checker: { type: 'tcp', options: {} } });
    await waitFor(async () => (await lastProbe(d, 'tcp'))?.reason === 'connected', 20_000, 20);

    const metrics = await (await fetch(new URL('/metrics', d.url))).text();
    expect(metrics).toMatch(/^vigil_probe_workers 1$/m);
    expect(metrics).toMatch(/^vigil_probe_worker_restarts_total 0$/m);

    // SIGTERM: the CLI only sets an exit code, so a worker thread left running would keep the process alive.
    expect(await d.stop()).toBe(0);
  });

  it('starts its worker under node flags a worker thread refuses (V8 and process-wide ones), leaving those out', async () => {
    const d = await daemon(1, ['--expose-gc', '--max-old-space-size=512']);
    await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    const probe = await waitFor(async () => (await lastProbe(d, 'where'))?.reason === 'ran' && lastProbe(d, 'where'), 20_000, 20);
    expect(probe?.facts).toMatchObject({ mainThread: false });
    expect(await d.stop()).toBe(0);
  });

  it('with workers 0 probes on the main thread', async () => {
    const d = await daemon(0);
    await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    const probe = await waitFor(async () => (await lastProbe(d, 'where'))?.reason === 'ran' && lastProbe(d, 'where'), 20_000, 20);
    expect(probe?.facts).toMatchObject({ mainThread: true });
    expect(await (await fetch(new URL('/metrics', d.url))).text()).toMatch(/^vigil_probe_workers 0$/m);
    expect(await d.stop()).toBe(0);
  });
});
