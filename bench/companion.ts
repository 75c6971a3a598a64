/**
 * Companion overhead on the registry it serves: requests per second a companion sends to the Nacos
 * API at steady state for N persistent instances, and the delay from a target's failure to the
 * registry showing it unhealthy. Three processes: a vigil registry (checks off, Nacos API), a vigil
 * companion pointed at it, loopback TCP targets. Reference, same run: the rate at which the same
 * registry serves the companion's read mix (`GET service` + `instance/list`) to one client in a loop.
 * The failure delay is split at the companion's own flip (its log): probe part and write part.
 * `--peers N` runs N companions as peers on a private MariaDB (shared store) instead of one: the
 * requests are summed over the nodes, and each flip is taken from the node that made it.
 *
 *   npm run build && node dist/bench/companion.js --instances 10000 --services 100 --cycles 4
 *   npm run build && node dist/bench/companion.js --instances 10000 --services 100 --cycles 4 --peers 3
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { startMariaDb, type MariaDb } from '../test/helpers/mariadb.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '10000' },
    services: { type: 'string', default: '100' },
    cycles: { type: 'string', default: '4' },
    failing: { type: 'string', default: '200' },
    'poll-interval': { type: 'string', default: '10000' },
    'probe-interval': { type: 'string', default: '5000' },
    rps: { type: 'string', default: '50' },
    peers: { type: 'string', default: '0' },
  },
});
const PEERS = Number(values.peers);
const SECRET = 'bench-companion-cluster-secret';
let db: MariaDb | undefined;
const N = Number(values.instances);
const S = Number(values.services);
const F = Number(values.failing);
const CLI = join(import.meta.dirname, '../src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'vigil-bench-companion-'));

function daemon(name: string, config: object, args: string[] = []): Promise<{ url: string; proc: ChildProcess; lines: string[] }> {
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  // With --store the daemon has no embedded store to create it, but its event history lives there.
  mkdirSync(join(tmp, name), { recursive: true });
  const env = { ...process.env, VIGIL_CLUSTER_SECRET: SECRET };
  const proc = spawn(process.execPath, [CLI, 'start', '--port', '0', '--data', join(tmp, name), '--config', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(proc);
  const lines: string[] = [];
  let rest = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  return new Promise((resolve, reject) => {
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /listening on (\S+)/.exec(err);
      if (m) resolve({ url: m[1]!, proc, lines });
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${err}`)));
    const slow = setTimeout(() => process.stderr.write(`${name} not listening after 60 s:\n${err}\n${lines.slice(-20).join('\n')}\n`), 60_000);
    proc.stderr!.on('data', () => /listening on/.test(err) && clearTimeout(slow));
  });
}

async function call(url: string, method: 'GET' | 'POST', path: string, params: Record<string, string | number | boolean>): Promise<string> {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)] as [string, string]));
  const res = await request(`${url}/nacos/v1/ns${path}?${q}`, { method });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${method} ${path} answered ${res.statusCode}: ${text}`);
  return text;
}

async function json(url: string, path: string): Promise<any> {
  const res = await request(`${url}${path}`);
  return res.body.json();
}

async function until(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const children: ChildProcess[] = [];
// Whatever happens, leave no daemon or target behind.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function main(): Promise<void> {
  // Targets: a separate process for the healthy ones; the failing ones listen here so we can close them.
  const targets = spawn(process.execPath, [join(import.meta.dirname, '../../bench/tcp-targets.mjs'), '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(targets);
  const [okPort] = JSON.parse(await new Promise<string>((r) => targets.stdout!.setEncoding('utf8').once('data', r))) as number[];
  const failing = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => failing.listen({ port: 0, host: '0.0.0.0', backlog: 4096 }, r));
  const failPort = (failing.address() as net.AddressInfo).port;

  const registry = await daemon('registry', { checks: { enabled: false }, store: { synchronous: 'normal' }, log: { level: 'info' } });
  const addr = (i: number): string => `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        const failingOne = i < F;
        await call(registry.url, 'POST', '/instance', {
          serviceName: `DEFAULT_GROUP@@svc-${String(i % S).padStart(4, '0')}`, ip: addr(i), port: failingOne ? failPort : okPort!, ephemeral: false, namespaceId: 'public',
        });
      }
    }),
  );

  const companionConfig = {
    checks: { intervalMs: Number(values['probe-interval']), timeoutMs: Math.min(2000, Number(values['probe-interval']) - 1) },
    log: { level: 'info' },
    source: {
      nacos: {
        serverAddr: new URL(registry.url).host,
        pollIntervalMs: Number(values['poll-interval']),
        maxRequestsPerSecond: Number(values.rps),
      },
    },
  };
  let companions: Array<Awaited<ReturnType<typeof daemon>>>;
  if (PEERS > 0) {
    db = await startMariaDb();
    const url = await freshDatabase(db, 'companion_bench');
    companions = [];
    for (let i = 1; i <= PEERS; i++) companions.push(await daemon(`companion-${i}`, companionConfig, ['--store', url, '--node-id', `c${i}`]));
  } else {
    companions = [await daemon('companion', companionConfig)];
  }
  const companion = companions[0]!;
  /** The nodes' statuses summed: requests, polls of the slowest node, owned instances. */
  const total = async () => {
    const all = await Promise.all(companions.map((c) => json(c.url, '/v1/companion')));
    return { requests: all.reduce((n, s) => n + s.requests, 0), pollsOk: Math.min(...all.map((s) => s.polls.ok)), owned: all.reduce((n, s) => n + (s.owned ?? s.instances), 0), all };
  };
  const t0 = Date.now();
  await until(async () => (await total()).all.every((s) => s.instances === N), 600_000);
  if (PEERS > 0) await until(async () => (await total()).owned === N, 600_000);
  const firstPollMs = Date.now() - t0;
  // Let every instance be probed once before measuring.
  await new Promise((r) => setTimeout(r, Number(values['probe-interval']) + 1000));

  // Measure over whole poll cycles: from the end of one poll to the end of the poll `cycles` later.
  const pollsOk = async (): Promise<number> => (await total()).pollsOk;
  let mark0 = await pollsOk();
  await until(async () => (await pollsOk()) > mark0, 600_000);
  const before = await total();
  const m0 = Date.now();
  mark0 = before.pollsOk;
  await until(async () => (await pollsOk()) >= mark0 + Number(values.cycles), 600_000);
  const after = await total();
  const steadyRps = (after.requests - before.requests) / ((Date.now() - m0) / 1000);
  const sum = (t: typeof after, f: (s: any) => number) => t.all.reduce((n, s) => n + f(s), 0);
  const steady = { seconds: Math.round((Date.now() - m0) / 1000), polls: after.pollsOk - before.pollsOk, failedPolls: sum(after, (s) => s.polls.failed) - sum(before, (s) => s.polls.failed), writes: sum(after, (s) => s.writes.sent) - sum(before, (s) => s.writes.sent) };

  // Failure → registry shows it: the registry logs every health change with its time.
  const failedAt = Date.now();
  await new Promise<void>((r) => failing.close(() => r()));
  const mark = registry.lines.length;
  const flips = (): Array<{ time: number; instance: string }> =>
    registry.lines.slice(mark).map((l) => JSON.parse(l)).filter((l) => l.msg === 'health changed' && l.healthy === false);
  await until(async () => flips().length >= F, 120_000);
  const delays = flips().map((l) => l.time - failedAt).sort((a, b) => a - b);
  // With peers only the owner probes an instance, so only its log has the flip.
  const localFlips = new Map<string, number>(
    companions
      .flatMap((c) => c.lines.map((l) => JSON.parse(l)))
      .filter((l) => l.msg === 'health changed' && l.healthy === false && l.time >= failedAt)
      .map((l) => [l.instance, l.time]),
  );
  const probePart = [...localFlips.values()].map((t) => t - failedAt).sort((a, b) => a - b);
  const writePart = flips().flatMap((l) => (localFlips.has(l.instance) ? [l.time - localFlips.get(l.instance)!] : [])).sort((a, b) => a - b);

  // Reference: one client reading the same mix in a loop, same registry, same run.
  const refEnd = Date.now() + 5000;
  let refRequests = 0;
  for (let i = 0; Date.now() < refEnd; i++) {
    const svc = `DEFAULT_GROUP@@svc-${String(i % S).padStart(4, '0')}`;
    await call(registry.url, 'GET', '/service', { serviceName: svc, namespaceId: 'public' });
    await call(registry.url, 'GET', '/instance/list', { serviceName: svc, namespaceId: 'public', healthyOnly: false, clusters: '' });
    refRequests += 2;
  }

  const status = await json(companion.url, '/v1/companion');
  const end = await total();
  console.log(
    JSON.stringify({
      instances: N,
      services: S,
      companions: companions.length,
      ownedPerNode: end.all.map((s) => s.owned ?? s.instances),
      writesSentPerNode: end.all.map((s) => s.writes.sent),
      pollIntervalMs: Number(values['poll-interval']),
      probeIntervalMs: Number(values['probe-interval']),
      maxRequestsPerSecond: Number(values.rps),
      firstPollMs,
      lastPollDurationMs: status.polls.lastDurationMs,
      // console/namespaces (a vigil registry answers 501: public only), service/list, then 2 per service; per node.
      requestsPerPoll: 2 + 2 * S,
      steadyRequestsPerSecond: Math.round(steadyRps * 10) / 10,
      steady,
      referenceRegistryReadsPerSecond: Math.round(refRequests / 5),
      failing: F,
      failureToRegistryMs: { p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), max: delays.at(-1) },
      failureToCompanionFlipMs: { p50: quantile(probePart, 0.5), p99: quantile(probePart, 0.99) },
      companionFlipToRegistryMs: { p50: quantile(writePart, 0.5), p99: quantile(writePart, 0.99) },
      polls: status.polls,
      writes: status.writes,
      writesSent: status.writes.sent,
    }),
  );
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGKILL');
  await db?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
