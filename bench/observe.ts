/**
 * Observability benchmarks.
 *
 *   npm run build && node --expose-gc dist/bench/observe.js metrics --instances 100000
 *   npm run build && node dist/bench/observe.js events --clients 100 --rate 1000 --seconds 10
 *   npm run build && node dist/bench/observe.js probe-path
 *   npm run build && node dist/bench/observe.js history-page --instances 100000
 *
 * `metrics`: scrape time and size of GET /metrics with N instances in the registry (per-instance
 * series off, then on with the default cap), beside the same scrape with no instances and
 * GET /healthz in the same run. `events`: CPU of a daemon process (its own
 * process_cpu_seconds_total) while it takes `rate` health flips a second through the API, with
 * `clients` SSE clients connected and reading, beside the same load with no client.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { request } from 'undici';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';
import { initialState } from '../src/health/state-machine.js';
import { instanceKey, type Instance } from '../src/registry/model.js';
import { openSqliteStore } from '../src/registry/sqlite-store.js';
import { createHistory } from '../src/observe/history.js';
import { createMetrics } from '../src/observe/metrics.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    instances: { type: 'string', default: '100000' },
    scrapes: { type: 'string', default: '20' },
    clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
  },
});

function seed(dataDir: string, n: number): void {
  const store = openSqliteStore({ dataDir, synchronous: 'normal' });
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const inst: Instance = {
      namespace: 'public', group: 'DEFAULT_GROUP', service: `svc-${i % 1000}`, cluster: 'DEFAULT',
      ip: `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 3306, weight: 1, enabled: true,
      ephemeral: i % 2 === 0, metadata: {}, registeredAt: now,
    };
    // Ephemeral instances are not stored; register them as persistent so all N are loaded.
    store.putInstance(instanceKey(inst), { ...inst, ephemeral: false }, { health: initialState(now, i % 10 !== 0) });
  }
  store.close();
}

async function timeGets(url: string, times: number): Promise<{ p50: number; max: number; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const res = await request(url);
    const text = await res.body.text();
    ms.push(performance.now() - t0);
    bytes = Buffer.byteLength(text);
  }
  ms.sort((a, b) => a - b);
  return { p50: +ms[Math.floor(ms.length / 2)]!.toFixed(2), max: +ms[ms.length - 1]!.toFixed(2), bytes };
}

async function scrape(n: number, instanceSeries: boolean): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-metrics-'));
  try {
    if (n > 0) seed(dataDir, n);
    const app = buildApp(parseConfig({ api: { port: 0 }, store: { dataDir, synchronous: 'normal' }, checks: { enabled: false }, observe: { metrics: { instanceSeries } } }), { logger: pino({ level: 'warn' }) });
    const { url } = await app.start();
    await timeGets(`${url}/metrics`, 3); // warm-up
    const metrics = await timeGets(`${url}/metrics`, Number(values.scrapes));
    const healthz = await timeGets(`${url}/healthz`, Number(values.scrapes));
    await app.stop();
    return { instances: n, instanceSeries, scrapeP50Ms: metrics.p50, scrapeMaxMs: metrics.max, bytes: metrics.bytes, healthzP50Ms: healthz.p50 };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function startDaemon(dataDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const cfg = join(dataDir, 'vigil.yaml');
  writeFileSync(cfg, JSON.stringify({ store: { synchronous: 'normal' }, checks: { enabled: false }, log: { level: 'warn' } }));
  const proc = spawn(process.execPath, [join(import.meta.dirname, '../src/cli/main.js'), 'start', '--port', '0', '--data', join(dataDir, 'data'), '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /vigil: listening on (\S+)\n/.exec(err);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`daemon exited ${code}: ${err}`)));
  });
  return { url, stop: async () => void (proc.kill('SIGTERM'), await new Promise((r) => proc.once('exit', r))) };
}

async function cpuSeconds(url: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text();
  return Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)![1]);
}

/** Flips `rate`/s for `seconds` through PUT /v1/overrides; returns the daemon's CPU ms per second. */
async function flipLoad(url: string, instances: number, rate: number, seconds: number): Promise<{ cpuMsPerS: number; flips: number }> {
  const cpu0 = await cpuSeconds(url);
  const t0 = performance.now();
  let flips = 0;
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  for (let tick = 0; performance.now() - t0 < seconds * 1000; tick++) {
    const batch = Array.from({ length: perTick }, () => {
      const i = flips++;
      const body = JSON.stringify({ service: `svc-${i % instances}`, ip: '127.0.0.1', port: 3306, healthy: Math.floor(i / instances) % 2 === 1 });
      return request(`${url}/v1/overrides`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } }).then((r) => r.body.dump());
    });
    await Promise.all(batch);
    const wait = t0 + (tick + 1) * tickMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(url)) - cpu0;
  return { cpuMsPerS: +((cpu * 1000) / elapsed).toFixed(1), flips: Math.round(flips / elapsed) };
}

async function events(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-events-'));
  const instances = 1000;
  const [clients, rate, seconds] = [Number(values.clients), Number(values.rate), Number(values.seconds)];
  const daemon = await startDaemon(dataDir);
  try {
    for (let i = 0; i < instances; i++) {
      const res = await request(`${daemon.url}/v1/instances`, { method: 'POST', body: JSON.stringify({ service: `svc-${i}`, ip: '127.0.0.1', port: 3306 }), headers: { 'content-type': 'application/json' } });
      await res.body.dump();
    }
    const base = await flipLoad(daemon.url, instances, rate, seconds);
    const readers = spawn(process.execPath, [join(import.meta.dirname, '../../bench/sse-clients.mjs'), `${daemon.url}/v1/events?types=health-changed`, String(clients)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = readers.stdout!.setEncoding('utf8');
    await new Promise<void>((resolve) => out.once('data', () => resolve()));
    const withClients = await flipLoad(daemon.url, instances, rate, seconds);
    readers.stdin!.end();
    const [line] = (await once(out, 'data')) as [string];
    const received = Number(line.trim());
    const extra = withClients.cpuMsPerS - base.cpuMsPerS;
    console.log(JSON.stringify({
      clients, rate, seconds,
      flipsPerS: [base.flips, withClients.flips],
      daemonCpuMsPerS: { noClients: base.cpuMsPerS, withClients: withClients.cpuMsPerS },
      eventStreamCpuShare: +(extra / 1000).toFixed(3),
      usPerEventPerClient: +((extra * 1000) / (withClients.flips * clients)).toFixed(2),
      framesReceived: received,
    }));
  } finally {
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** ns per call of what the probe observer does per probe: metrics and history, beside a Map lookup. */
function probePath(): void {
  const keys = Array.from({ length: 20_000 }, (_, i) => `public/DEFAULT_GROUP@@svc-${i % 1000}/DEFAULT/127.0.${i >> 8}.${i & 255}:3306`);
  const r = { type: 'tcp', status: 'ok', reason: 'connected', latencyMs: 1.2, startedAt: Date.now() } as const;
  const metrics = createMetrics({ registry: { keys: () => [][Symbol.iterator](), size: 0 } as never, scheduler: () => undefined, beats: () => ({}) as never, instanceSeries: false, maxInstanceSeries: 1 });
  const history = createHistory({ results: 100, days: 30 });
  const map = new Map(keys.map((k) => [k, 1]));
  const time = (fn: (k: string) => void): number => {
    for (const k of keys) fn(k);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 2_000_000; i++) fn(keys[i % keys.length]!);
    return +(Number(process.hrtime.bigint() - t0) / 2_000_000).toFixed(1);
  };
  console.log(JSON.stringify({
    referenceMapGetNs: time((k) => void map.get(k)),
    metricsOnProbeNs: time((k) => metrics.onProbe(k, r, 3)),
    historyRecordNs: time((k) => history.record(k, r)),
  }));
}

/**
 * What one page of GET /v1/history costs on the event loop (summaries of 1000 instances with their
 * last 30 results, then JSON), beside the unpaged answer the route gave before: every instance.
 */
function historyPage(n: number): void {
  const history = createHistory({ results: 100, days: 30 });
  const keys = Array.from({ length: n }, (_, i) => `public/DEFAULT_GROUP@@svc-${i % 1000}/DEFAULT/127.${i >> 16}.${(i >> 8) & 255}.${i & 255}:3306`);
  const t = Date.now() - 100 * 1000;
  for (let j = 0; j < 100; j++) for (const k of keys) history.record(k, { type: 'tcp', status: j % 10 ? 'ok' : 'fail', reason: 'connected', latencyMs: 1 + (j % 7), startedAt: t + j * 1000 });
  const answer = (slice: string[]) => JSON.stringify({ instances: slice.map((key) => ({ key, ...history.summary(key, Date.now(), 30) })), nextCursor: null });
  const timeOf = (slice: string[]) => {
    const t0 = process.hrtime.bigint();
    const bytes = answer(slice).length;
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes };
  };
  const pages = Array.from({ length: 20 }, (_, p) => timeOf(keys.slice(p * 1000, p * 1000 + 1000)));
  const ms = pages.map((x) => x.ms).sort((a, b) => a - b);
  const whole = [timeOf(keys), timeOf(keys), timeOf(keys)];
  console.log(JSON.stringify({
    instances: n,
    page1000: { p50Ms: +ms[10]!.toFixed(1), maxMs: +ms.at(-1)!.toFixed(1), bytes: pages[0]!.bytes },
    unpagedReference: { minMs: +Math.min(...whole.map((x) => x.ms)).toFixed(1), bytes: whole[0]!.bytes },
  }));
}

async function main(): Promise<void> {
  if (positionals[0] === 'events') return events();
  if (positionals[0] === 'probe-path') return probePath();
  if (positionals[0] === 'history-page') return historyPage(Number(values.instances));
  const n = Number(values.instances);
  for (const [count, series] of [[0, false], [n, false], [n, true]] as const) console.log(JSON.stringify(await scrape(count, series)));
}

await main();
