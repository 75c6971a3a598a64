/**
 * Read load: 5,000 persistent TCP instances (probed every 5 s) and 200 ephemeral instances beating
 * every 5 s, then 30 clients (autocannon, own process) reading `GET /v1/instances` as fast as
 * vigil answers for 30 s. Reference, same run: the same figures over 30 s without the readers.
 * Reports the probe rate (from the scheduler, vigil runs in this process), /healthz latency and beat
 * failures (sampled by a separate client process), ephemeral instances falsely unhealthy, and the
 * listing rate. The per-client rate limit is off (`server.readsPerSecond: 0`; the daemon's default is
 * 1,000 a second per address): this measures what paging alone protects.
 *
 *   npm run build && node dist/bench/read-load.js [--path '/v1/instances?limit=500'] [--seconds 30]
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Client } from 'undici';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';

const { values } = parseArgs({
  options: { path: { type: 'string', default: '/v1/instances' }, seconds: { type: 'string', default: '30' }, instances: { type: 'string', default: '5000' } },
});
const SECONDS = Number(values.seconds);
const N = Number(values.instances);
const REPO = join(import.meta.dirname, '../..');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const targets = spawn(process.execPath, [join(REPO, 'bench/tcp-targets.mjs'), '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(targets.stdout!.setEncoding('utf8'), 'data')) as [string];
  const ports = JSON.parse(line) as number[];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-read-'));
  const app = buildApp(
    parseConfig({ api: { port: 0 }, store: { dataDir, synchronous: 'normal' }, log: { level: 'warn' }, server: { readsPerSecond: 0 } }),
    { logger: pino({ level: 'warn' }) },
  );
  const { url } = await app.start();
  const api = new Client(url);
  let helper: ReturnType<typeof spawn> | undefined;
  try {
    for (let i = 0; i < N; i++) {
      const j = Math.floor(i / ports.length);
      const body = JSON.stringify({ service: `svc-${i % 100}`, ip: `127.4.${j >> 8}.${j & 255}`, port: ports[i % ports.length], checker: { type: 'tcp' } });
      const res = await api.request({ path: '/v1/instances', method: 'POST', body, headers: { 'content-type': 'application/json' } });
      await res.body.dump();
    }
    helper = spawn(process.execPath, [join(REPO, 'bench/read-load-client.mjs'), url, '200'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: helper.stdout! });
    const next = async (): Promise<string> => (await once(lines, 'line'))[0] as string;
    if ((await next()) !== 'ready') throw new Error('client did not start');
    const unhealthyEphemeral = async (): Promise<number> => {
      const res = await api.request({ path: '/v1/instances?kind=ephemeral&healthy=false', method: 'GET' });
      return ((await res.body.json()) as { instances: unknown[] }).instances.length;
    };
    await sleep(10_000); // every instance probed, every ephemeral instance beating

    const measure = async (name: string, during: () => Promise<unknown>) => {
      helper!.stdin!.write(`phase ${name}\n`);
      const p0 = app.stats()!.probes;
      const t0 = performance.now();
      let maxUnhealthy = 0;
      const watch = setInterval(() => void unhealthyEphemeral().then((n) => (maxUnhealthy = Math.max(maxUnhealthy, n))), 1000);
      const extra = await during();
      clearInterval(watch);
      const seconds = (performance.now() - t0) / 1000;
      return { probesPerSecond: Math.round((app.stats()!.probes - p0) / seconds), maxUnhealthyEphemeral: maxUnhealthy, ...(extra as object) };
    };
    const idle = await measure('idle', () => sleep(SECONDS * 1000));
    const loaded = await measure('readers', async () => {
      const { stdout } = await run(join(REPO, 'node_modules/.bin/autocannon'), ['-j', '-c', '30', '-d', String(SECONDS), `${url}${values.path}`], { maxBuffer: 1 << 26 });
      const r = JSON.parse(stdout) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
      return { listingReqPerSecond: r.requests.average, listingLatencyMs: { p50: r.latency.p50, p99: r.latency.p99 }, listingNon2xx: r.non2xx, listingErrors: r.errors };
    });
    helper.stdin!.write('report\n');
    const report = JSON.parse(await next()) as { healthz: Record<string, unknown>; beatFailures: Record<string, number> };
    console.log(JSON.stringify({ instances: N, ephemeral: 200, path: values.path, seconds: SECONDS, idle, readers: loaded, ...report }, null, 2));
  } finally {
    helper?.kill('SIGKILL');
    await api.close();
    await app.stop();
    targets.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
