/**
 * Slow-body attack: 1,100 clients each send request headers announcing a body, then the body one
 * byte a second, against a vigil started under `ulimit -n 1024` that probes 200 persistent TCP
 * instances every second. Measures: instances that went DOWN (must stay 0), /healthz latency
 * during the attack beside the same figure before it (same run), and how long the server took to
 * close each slow connection (limit: server.requestTimeoutMs plus server.timeoutCheckIntervalMs,
 * counted from when vigil has read the request's headers — each client asks for `100 Continue`
 * to learn that moment — and, for comparison, from the client's `connect`).
 *
 *   npm run build && node dist/bench/slow-body.js --clients 1100 --seconds 20
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from 'undici';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '1100' }, seconds: { type: 'string', default: '20' }, instances: { type: 'string', default: '200' } } });
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const INSTANCES = Number(values.instances);
const REQUEST_TIMEOUT_MS = 10_000;
const CHECK_MS = 1000;
const REPO = join(import.meta.dirname, '../..');

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** /healthz latencies over `ms`, one request every 50 ms on a kept-alive connection; `at` collects when each was sent. */
async function healthz(client: Client, ms: number, at: number[] = []): Promise<number[]> {
  const out: number[] = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const t = performance.now();
    const res = await client.request({ path: '/healthz', method: 'GET' });
    await res.body.dump();
    out.push(performance.now() - t);
    at.push(t);
    await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

interface SlowClose {
  /** ms from the client's `connect` to the server closing the connection. */
  readonly afterConnect: number;
  /** ms from vigil answering `100 Continue` (it has read the headers: its clock for the request runs) to the close; NaN if it never did. */
  readonly afterHeaders: number;
}

/**
 * Opens one slow client; resolves with when the server closed it. The request asks for
 * `100 Continue`, which node sends as soon as it has parsed the headers: the client then knows when
 * the server's request clock started, apart from the time the connection waited to be accepted.
 */
function slowClient(port: number): Promise<SlowClose> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let t0 = 0;
    let tHeaders = NaN;
    let drip: NodeJS.Timeout | undefined;
    socket.on('error', () => {});
    socket.setEncoding('latin1').on('data', (d: string) => {
      if (Number.isNaN(tHeaders) && d.startsWith('HTTP/1.1 100')) tHeaders = performance.now();
    });
    socket.on('connect', () => {
      t0 = performance.now();
      socket.write('POST /v1/instances HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n');
      drip = setInterval(() => socket.write('x'), 1000);
    });
    socket.on('close', () => {
      clearInterval(drip);
      const now = performance.now();
      resolve({ afterConnect: t0 === 0 ? 0 : now - t0, afterHeaders: now - tHeaders });
    });
  });
}

async function main(): Promise<void> {
  const targets = spawn(process.execPath, [join(REPO, 'bench/tcp-targets.mjs'), '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(targets.stdout!.setEncoding('utf8'), 'data')) as [string];
  const ports = JSON.parse(line) as number[];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-slow-'));
  const configFile = join(dataDir, 'config.json');
  writeFileSync(configFile, JSON.stringify({
    log: { level: 'warn' },
    server: { requestTimeoutMs: REQUEST_TIMEOUT_MS, timeoutCheckIntervalMs: CHECK_MS },
    checks: { intervalMs: 1000, timeoutMs: 500, fastIntervalMs: 1000 },
  }));
  const daemon = spawn('bash', ['-c', `ulimit -n 1024 && exec "${process.execPath}" dist/src/cli/main.js start --port 0 --data "${join(dataDir, 'data')}" --config "${configFile}"`], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  try {
    while (!/listening on (\S+)/.test(log)) await new Promise((r) => setTimeout(r, 50));
    const url = /listening on (\S+)/.exec(log)![1]!;
    const port = Number(new URL(url).port);
    const api = new Client(url, { keepAliveTimeout: 60_000 });
    for (let i = 0; i < INSTANCES; i++) {
      const body = JSON.stringify({ service: `svc-${i % 20}`, ip: `127.2.0.${1 + (i % 250)}`, port: ports[i % ports.length], checker: { type: 'tcp' } });
      const res = await api.request({ path: '/v1/instances', method: 'POST', body, headers: { 'content-type': 'application/json' } });
      await res.body.dump();
    }
    const down = async (): Promise<number> => {
      const res = await api.request({ path: '/v1/instances?healthy=false&limit=5000', method: 'GET' });
      return ((await res.body.json()) as { instances: unknown[] }).instances.length;
    };
    await new Promise((r) => setTimeout(r, 3000)); // every instance probed
    const before = await healthz(api, 3000);

    const attackAt = performance.now();
    const sentAt: number[] = [];
    const closes = Array.from({ length: CLIENTS }, () => slowClient(port));
    let maxDown = 0;
    const watch = setInterval(() => void down().then((n) => (maxDown = Math.max(maxDown, n))), 500);
    const during = await healthz(api, SECONDS * 1000, sentAt);
    clearInterval(watch);
    const closedAfter = await Promise.all(closes);
    const downAtEnd = await down();
    await api.close();

    const refused = closedAfter.filter((c) => c.afterConnect < 1000).length;
    const timedOut = closedAfter.filter((c) => c.afterConnect >= 1000);
    const fromConnect = timedOut.map((c) => c.afterConnect);
    const fromHeaders = timedOut.map((c) => c.afterHeaders).filter((ms) => !Number.isNaN(ms));
    const acceptLag = timedOut.map((c) => c.afterConnect - c.afterHeaders).filter((ms) => !Number.isNaN(ms));
    console.log(JSON.stringify({
      clients: CLIENTS,
      fdLimit: 1024,
      instances: INSTANCES,
      instancesDownMax: maxDown,
      instancesDownAtEnd: downAtEnd,
      healthzBeforeMs: { p50: quantile(before, 0.5).toFixed(1), p99: quantile(before, 0.99).toFixed(1), n: before.length },
      healthzDuringMs: { p50: quantile(during, 0.5).toFixed(1), p99: quantile(during, 0.99).toFixed(1), max: Math.max(...during).toFixed(1), n: during.length },
      // The slowest /healthz answers and when they were sent (s after the slow clients started connecting).
      healthzSlowest: during
        .map((ms, i) => ({ ms: Number(ms.toFixed(0)), atS: Number(((sentAt[i]! - attackAt) / 1000).toFixed(2)) }))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5),
      slowClosedBeyondCapWithin1s: refused,
      slowClosedByTimeout: {
        n: timedOut.length,
        afterConnect: { p50: quantile(fromConnect, 0.5).toFixed(0), max: Math.max(...fromConnect).toFixed(0) },
        afterHeadersRead: { n: fromHeaders.length, p50: quantile(fromHeaders, 0.5).toFixed(0), max: Math.max(...fromHeaders).toFixed(0) },
        connectToHeadersRead: { p50: quantile(acceptLag, 0.5).toFixed(0), max: Math.max(...acceptLag).toFixed(0) },
        limitMs: REQUEST_TIMEOUT_MS + CHECK_MS,
      },
      emfileLogLines: (log.match(/out of file descriptors/g) ?? []).length,
    }, null, 2));
  } finally {
    daemon.kill('SIGTERM');
    targets.kill('SIGKILL');
    await once(daemon, 'exit');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
