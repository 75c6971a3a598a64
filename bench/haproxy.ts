/**
 * Side-by-side benchmark: HAProxy's health checks and vigil's probes against the same nginx
 * targets, on the same machine, in the same run. One nginx (one worker) listens on the IPv4
 * wildcard so each of N 127.1x.y.z addresses is a target; HAProxy (Debian's, `check`/`inter`
 * configured like vigil's interval, timeout and ±10 % spread) runs first, then vigil (the real
 * daemon, `buildApp`, in its own process: bench/haproxy-vigil.ts). For each, over the same window
 * after a warm-up: CPU µs per probe from /proc/<pid>/stat, probes actually run (nginx's own
 * counters: connections accepted, or requests for keep-alive) against those due, RSS; for vigil
 * also its p99 scheduling lag and the p99 of a beat sent every 20 ms to its API meanwhile. The
 * ratio vigil/HAProxy is the figure that counts. Installs haproxy and nginx with apt-get if missing,
 * then runs itself in a private network namespace (needs root) so that the kernel's count of
 * connections opened there is the count of probes of this bench alone.
 *
 *   npm run build && node dist/bench/haproxy.js                     # the whole matrix, ~8 min
 *   node dist/bench/haproxy.js --only tcp-10k,http-fresh-10k --seconds 20
 *   node dist/bench/haproxy.js --only tcp-100k --vigil-node-args=--cpu-prof,--cpu-prof-dir=/tmp/prof
 *   node dist/bench/haproxy.js --only tcp-10k --workers 0,1     # vigil in-process, then with one probe worker
 *   node dist/bench/haproxy.js --only tcp-10k --tcp-handshake full   # vigil completes each handshake
 *
 * HAProxy's TCP check resets on the SYN-ACK (the target never accepts); vigil's tcp checker does the
 * same with `handshake: half`, which this bench uses unless told `--tcp-handshake full`.
 * HAProxy has no keep-alive checks: the keep-alive row compares vigil's keep-alive probe with
 * HAProxy's HTTP check (a connection per check). 100k keep-alive targets would need 100k
 * descriptors on each side (this machine's limit is 20 000), so that row is 10k only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { haproxyConfig, nginxConfig, parseStubStatus, type NginxCounts, type ProbeKind } from './haproxy-targets.js';

interface Scenario {
  readonly name: string;
  readonly kind: ProbeKind;
  readonly connection: 'fresh' | 'keepalive';
  readonly instances: number;
  readonly intervalMs: number;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'tcp-10k', kind: 'tcp', connection: 'fresh', instances: 10_000, intervalMs: 1000 },
  { name: 'http-fresh-10k', kind: 'http', connection: 'fresh', instances: 10_000, intervalMs: 1000 },
  { name: 'http-keepalive-10k', kind: 'http', connection: 'keepalive', instances: 10_000, intervalMs: 1000 },
  { name: 'tcp-100k', kind: 'tcp', connection: 'fresh', instances: 100_000, intervalMs: 5000 },
  { name: 'http-fresh-100k', kind: 'http', connection: 'fresh', instances: 100_000, intervalMs: 5000 },
];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    seconds: { type: 'string', default: '20' },
    ports: { type: 'string', default: '4' },
    'timeout-ms': { type: 'string', default: '800' },
    'vigil-node-args': { type: 'string', default: '' },
    'skip-haproxy': { type: 'boolean', default: false },
    /** `checks.workers` for vigil; a list (`0,1`) runs vigil once per value after the same HAProxy run. */
    workers: { type: 'string', default: 'auto' },
    /** vigil's tcp `handshake`: `half` (default) resets on the SYN-ACK as HAProxy's TCP check does; `full` completes it. */
    'tcp-handshake': { type: 'string', default: 'half' },
  },
});
const SECONDS = Number(values.seconds);
const WORKERS = values.workers.split(',').map((w) => (w === 'auto' ? 'auto' : Number(w)));
const TIMEOUT_MS = Number(values['timeout-ms']);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function ensureTools(): void {
  const missing = ['haproxy', 'nginx'].filter((t) => spawnSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`]).status !== 0);
  if (missing.length === 0) return;
  process.stderr.write(`installing ${missing.join(', ')} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'haproxy', 'nginx-light'], { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error('apt-get install haproxy nginx-light failed');
}

function bin(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name} || echo /usr/sbin/${name}`], { encoding: 'utf8' });
  return r.stdout.trim();
}

/** utime + stime of every thread of `pid` (or of its main thread alone: `/proc/<pid>/task/<pid>`), in µs. */
function cpuUs(pid: number, mainThread = false): number {
  const fields = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Runs this bench again inside a private network namespace (root, `unshare -n`) with only its own
 * loopback: the kernel's TCP counters there count the probes of this bench and nothing else on the
 * machine. Returns false when already inside.
 */
function reexecInNetns(): boolean {
  if (process.env.VIGIL_BENCH_NETNS === '1') return false;
  const argv = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...argv], {
    stdio: 'inherit',
    env: { ...process.env, VIGIL_BENCH_NETNS: '1' },
  });
  process.exitCode = r.status ?? 1;
  return true;
}

/** Connections opened (SYN sent) in this network namespace: one per probe with a fresh connection. */
function activeOpens(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.split(/\s+/);
  return Number(lines[1]!.split(/\s+/)[names.indexOf('ActiveOpens')]);
}

async function counts(statusPort: number): Promise<NginxCounts & { opens: number }> {
  const res = await fetch(`http://127.0.0.1:${statusPort}/`);
  return { ...parseStubStatus(await res.text()), opens: activeOpens() };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Window {
  readonly cpuUsPerProbe: number;
  readonly probesPerSecond: number;
  readonly dueFraction: number;
  readonly rssMB: number;
  readonly nginxUsPerProbe: number;
  /** The part of cpuUsPerProbe spent on the process's main thread (the rest: probe workers, libuv and V8 helper threads). */
  readonly mainThreadUsPerProbe: number;
}

/** Reads `pid`'s CPU and nginx's counters across one window of SECONDS. */
async function measure(pid: number, nginxPid: number, statusPort: number, s: Scenario, during?: Promise<unknown>): Promise<Window> {
  const c0 = cpuUs(pid);
  const m0 = cpuUs(pid, true);
  const g0 = cpuUs(nginxPid);
  const n0 = await counts(statusPort);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const c1 = cpuUs(pid);
  const m1 = cpuUs(pid, true);
  const g1 = cpuUs(nginxPid);
  const n1 = await counts(statusPort);
  const wallS = (performance.now() - t0) / 1000;
  await during;
  // Fresh connections: the SYNs sent (HAProxy's TCP check resets before its final ACK, so nginx never
  // accepts those). Keep-alive: the requests nginx answered. The bench's own status reads and beats
  // are counted too: a handful beside thousands of probes.
  const probes = s.connection === 'keepalive' ? n1.requests - n0.requests : n1.opens - n0.opens;
  const due = (s.instances / (s.intervalMs / 1000)) * wallS;
  return {
    cpuUsPerProbe: +((c1 - c0) / probes).toFixed(1),
    probesPerSecond: Math.round(probes / wallS),
    dueFraction: +(probes / due).toFixed(4),
    rssMB: rssMB(pid),
    nginxUsPerProbe: +((g1 - g0) / probes).toFixed(1),
    mainThreadUsPerProbe: +((m1 - m0) / probes).toFixed(1),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function runHaproxy(s: Scenario, dir: string, ports: readonly number[], nginxPid: number, statusPort: number): Promise<Window> {
  const cfg = join(dir, `haproxy-${s.name}.cfg`);
  writeFileSync(cfg, haproxyConfig(s.kind, s.instances, ports, s.intervalMs, TIMEOUT_MS, await freePort()));
  const child = spawn(bin('haproxy'), ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // One WARNING line per server going up or down (100k of them at start-up): only alerts are shown.
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.includes('[ALERT]')) process.stderr.write(`${line}\n`);
  });
  try {
    // Parsing 100k servers takes seconds on a loaded machine: wait until it probes, then warm up.
    for (const first = activeOpens(); activeOpens() === first; await sleep(500)) {
      if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}`);
    }
    await sleep(s.intervalMs + 3000);
    return await measure(child.pid!, nginxPid, statusPort, s);
  } finally {
    await stopChild(child);
  }
}

interface VigilWindow extends Window {
  readonly lagP99Ms: number;
  readonly shed: number;
  readonly beatP99Ms: number;
  readonly selfCountedPerSecond: number;
  readonly outcomes: Record<string, number>;
}

function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  const answer = once(child, 'message') as Promise<[T]>;
  child.send(msg);
  return answer.then(([m]) => m);
}

/** Registers one ephemeral instance and beats it every 20 ms until `stop`; resolves with the latencies. */
async function beatSampler(url: string, stop: Promise<unknown>): Promise<number[]> {
  const q = 'serviceName=DEFAULT_GROUP%40%40bench-beat&ip=127.0.0.1&port=9';
  await fetch(`${url}/nacos/v1/ns/instance?${q}&ephemeral=true`, { method: 'POST' });
  const lat: number[] = [];
  let done = false;
  void stop.then(() => (done = true));
  while (!done) {
    const t = performance.now();
    const res = await fetch(`${url}/nacos/v1/ns/instance/beat?${q}`, { method: 'PUT' });
    await res.arrayBuffer();
    lat.push(performance.now() - t);
    await sleep(20);
  }
  return lat;
}

async function runVigil(s: Scenario, ports: readonly number[], nginxPid: number, statusPort: number, workers: number | 'auto'): Promise<VigilWindow> {
  const checker = s.kind === 'tcp' ? { type: 'tcp', options: { handshake: values['tcp-handshake'] } } : { type: 'http', options: { connection: s.connection } };
  const args = { instances: s.instances, intervalMs: s.intervalMs, timeoutMs: TIMEOUT_MS, ports, checker, workers };
  const nodeArgs = values['vigil-node-args'] ? values['vigil-node-args'].split(',') : [];
  const child = spawn(process.execPath, [...nodeArgs, join(import.meta.dirname, 'haproxy-vigil.js'), JSON.stringify(args)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const [ready] = (await once(child, 'message')) as [{ url: string }];
    await sleep(2 * s.intervalMs + 3000);
    const m0 = await ask<{ probes: number; shed: number }>(child, 'mark');
    const t0 = performance.now();
    let endWindow!: () => void;
    const windowEnd = new Promise<void>((r) => (endWindow = r));
    const beats = beatSampler(ready.url, windowEnd);
    const w = await measure(child.pid!, nginxPid, statusPort, s);
    endWindow();
    const wallS = (performance.now() - t0) / 1000;
    const m1 = await ask<{ probes: number; shed: number; lagP99Ms: number; outcomes: Record<string, number> }>(child, 'stats');
    const lat = (await beats).sort((a, b) => a - b);
    return {
      ...w,
      lagP99Ms: m1.lagP99Ms,
      shed: m1.shed - m0.shed,
      beatP99Ms: +quantile(lat, 0.99).toFixed(1),
      selfCountedPerSecond: Math.round((m1.probes - m0.probes) / wallS),
      outcomes: m1.outcomes,
    };
  } finally {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.send('stop');
      await exited;
    }
  }
}

async function main(): Promise<void> {
  ensureTools();
  if (reexecInNetns()) return;
  const only = values.only?.split(',');
  const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-haproxy-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const ports: number[] = [];
  for (let i = 0; i < Number(values.ports); i++) ports.push(await freePort());
  const statusPort = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, ports, statusPort));
  const nginx = spawn(bin('nginx'), ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const rows: string[] = [];
  try {
    for (let i = 0; ; i++) {
      try {
        await counts(statusPort);
        break;
      } catch (err) {
        if (i > 50 || nginx.exitCode !== null) throw err;
        await sleep(100);
      }
    }
    process.stderr.write(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    for (const s of scenarios) {
      const h = values['skip-haproxy'] ? undefined : await runHaproxy(s, dir, ports, nginx.pid!, statusPort);
      for (const workers of WORKERS) {
        const v = await runVigil(s, ports, nginx.pid!, statusPort, workers);
        const ratio = h ? +(v.cpuUsPerProbe / h.cpuUsPerProbe).toFixed(2) : NaN;
        const load = loadavg()[0]!.toFixed(2);
        process.stdout.write(`${JSON.stringify({ scenario: s.name, workers, haproxy: h, vigil: v, ratio, load })}\n`);
        const pct = (f: number): string => `${(f * 100).toFixed(1)} %`;
        rows.push(
          `| ${s.name}, workers ${workers} | ${h ? `${h.cpuUsPerProbe} µs, ${pct(h.dueFraction)}, ${h.rssMB} MB` : '–'} | ` +
            `${v.cpuUsPerProbe} µs (main thread ${v.mainThreadUsPerProbe}), ${pct(v.dueFraction)}, ${v.rssMB} MB | ${v.lagP99Ms} ms | ${v.beatP99Ms} ms | **${ratio}×** | ${h?.nginxUsPerProbe ?? '–'} / ${v.nginxUsPerProbe} µs | ${load} |`,
        );
      }
    }
  } finally {
    await stopChild(nginx);
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    '\n| scenario | HAProxy: CPU/probe, due run, RSS | vigil: CPU/probe, due run, RSS | vigil lag p99 | beat p99 | ratio | nginx CPU/probe (H / v) | load |\n|---|---|---|---:|---:|---:|---|---:|\n',
  );
  process.stdout.write(`${rows.join('\n')}\n`);
}

await main();
