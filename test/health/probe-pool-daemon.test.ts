import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { api, removeDir, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { startTcpServer, type TestServer } from '../helpers/servers.js';

const plugin = fileURLToPath(new URL('../fixtures/plugins/pool-probe.mjs', import.meta.url));
/** Loads in a worker thread only once the file VIGIL_TEST_WORKER_GATE names exists. */
const gatedPlugin = fileURLToPath(new URL('../fixtures/plugins/gated-in-worker.mjs', import.meta.url));

const daemons: Daemon[] = [];
const dirs: string[] = [];
const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.kill()));
  for (const d of dirs.splice(0)) removeDir(d);
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function daemon(workers: number | 'auto', nodeArgs: readonly string[] = [], gate?: string): Promise<Daemon> {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const d = await startDaemon({
    dataDir,
    nodeArgs,
    config: { log: { level: 'warn' }, plugins: gate === undefined ? [plugin] : [plugin, gatedPlugin], checks: { workers, intervalMs: 200, fastIntervalMs: 200, downIntervalMs: 200, timeoutMs: 150, jitter: 0 } },
    ...(gate === undefined ? {} : { env: { VIGIL_TEST_WORKER_GATE: gate } }),
  });
  daemons.push(d);
  return d;
}

async function lastProbe(d: Daemon, service: string): Promise<{ reason: string; facts: Record<string, unknown> } | undefined> {
  const { body } = await api(d.url, 'GET', `/v1/instances?service=${service}`);
  return body.instances?.[0]?.lastProbe ?? undefined;
}

/** Waits for a pool-where probe that ran on the main thread (true) or on a worker (false). */
async function ranOnMain(d: Daemon, service: string, onMain: boolean): Promise<void> {
  await waitFor(async () => {
    const probe = await lastProbe(d, service);
    return probe?.reason === 'ran' && probe.facts['mainThread'] === onMain;
  }, 20_000, 20);
}

/** A gate file that does not exist yet, in a folder removed after the test. */
function closedGate(): string {
  const dir = tempDir();
  dirs.push(dir);
  return join(dir, 'open');
}

describe('a daemon with probe workers (checks.workers)', () => {
  it('probes through its worker thread, a plugin included, and ends the thread when it stops', async () => {
    const d = await daemon(1);
    // Nothing to probe yet: the worker has not been started (it starts at its shard's first probe).
    expect(await (await fetch(new URL('/metrics', d.url))).text()).toMatch(/^vigil_probe_workers_ready 0$/m);
    const reg = await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    expect(reg.status).toBe(201);
    // The first probes may run here while the worker loads; then they move to it.
    await ranOnMain(d, 'where', false);

    const target = await startTcpServer();
    servers.push(target);
    await api(d.url, 'POST', '/v1/instances', { service: 'tcp', ip: '127.0.0.1', port: target.port, checker: { type: 'tcp', options: {} } });
    await waitFor(async () => (await lastProbe(d, 'tcp'))?.reason === 'connected', 20_000, 20);

    const metrics = await (await fetch(new URL('/metrics', d.url))).text();
    expect(metrics).toMatch(/^vigil_probe_workers 1$/m);
    // It has answered a probe from its thread, so it is up and loaded.
    expect(metrics).toMatch(/^vigil_probe_workers_ready 1$/m);
    expect(metrics).toMatch(/^vigil_probe_worker_restarts_total 0$/m);

    // SIGTERM: the CLI only sets an exit code, so a worker thread left running would keep the process alive.
    expect(await d.stop()).toBe(0);
  });

  it('starts its worker under node flags a worker thread refuses (V8 and process-wide ones), leaving those out', async () => {
    const d = await daemon(1, ['--expose-gc', '--max-old-space-size=512']);
    await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    await ranOnMain(d, 'where', false);
    expect(await d.stop()).toBe(0);
  });

  it('listens and probes on the main thread while its worker is still loading, then probes on the worker once it is ready', async () => {
    const gate = closedGate();
    const d = await daemon(1, [], gate); // on a start that waited for the worker, this never resolves
    await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    await ranOnMain(d, 'where', true);
    writeFileSync(gate, '');
    await ranOnMain(d, 'where', false);
    expect(d.output()).not.toMatch(/probe worker/);
    expect(await d.stop()).toBe(0);
  });

  it('stops and exits while its worker is still loading', async () => {
    const d = await daemon(1, [], closedGate());
    expect(await d.stop()).toBe(0);
    expect(d.output()).not.toMatch(/probe worker/);
  });

  it('still refuses to start, naming the plugin, when a plugin cannot be loaded', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const missing = join(dataDir, 'no-such-plugin.mjs');
    const start = startDaemon({ dataDir, config: { plugins: [missing], checks: { workers: 1 } } });
    await expect(start).rejects.toThrow(/VIGIL_ERR_PLUGIN_LOAD[^\n]*no-such-plugin\.mjs/);
  });

  it('with workers auto probes on the main thread while it is not busy, and starts no worker', async () => {
    const d = await daemon('auto');
    await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: {} } });
    // Ten probes (one every 200 ms: nowhere near busy), long after a worker would have loaded.
    const metrics = await waitFor(async () => {
      const text = await (await fetch(new URL('/metrics', d.url))).text();
      const probes = [...text.matchAll(/^vigil_probes_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      return probes >= 10 && text;
    }, 20_000, 50);
    expect(await lastProbe(d, 'where')).toMatchObject({ reason: 'ran', facts: { mainThread: true } });
    expect(metrics).toMatch(/^vigil_probe_workers [1-4]$/m);
    expect(metrics).toMatch(/^vigil_probe_workers_ready 0$/m);
    expect(await d.stop()).toBe(0);
  });

  it('with workers auto starts its workers once the main thread has been busy for a few seconds, and probes on them', async () => {
    const d = await daemon('auto');
    // Each probe keeps the thread it runs on busy for 240 ms, due every 200 ms: the loop never rests.
    await api(d.url, 'POST', '/v1/instances', { service: 'where', ip: '127.0.0.1', port: 1, checker: { type: 'pool-where', options: { spinMs: 240 } } });
    await ranOnMain(d, 'where', true);
    await ranOnMain(d, 'where', false);
    expect(await (await fetch(new URL('/metrics', d.url))).text()).toMatch(/^vigil_probe_workers_ready [1-4]$/m);
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
