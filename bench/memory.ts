/**
 * Memory at scale (issue 15 item 4): the daemon (`buildApp`, in its own process: bench/haproxy-vigil.ts)
 * with N persistent TCP instances in a fresh embedded store, probing every interval against one
 * wildcard listener process (bench/tcp-targets.mjs), so every 127.1x.y.z address answers. After a
 * warm-up of one interval plus 5 s, and on until N probes ran (at most --max-warmup-s, so that short
 * of shedding every instance has a history), RSS is sampled from /proc every second over the window; then
 * the daemon reports `process.memoryUsage()` and V8's heap spaces. Each `--instances` value is its
 * own daemon, one after the other in the same run: `0` gives the empty daemon as the reference.
 *
 *   npm run build && node dist/bench/memory.js --instances 0,100000 --seconds 20
 *   node dist/bench/memory.js --instances 100000 --vigil-node-args=--max-semi-space-size=8
 *   node dist/bench/memory.js --instances 100000 --snapshot /tmp/vigil.heapsnapshot   # then bench/heap-top.mjs
 *   node dist/bench/memory.js --vigil /tmp/other-build/dist/bench/haproxy-vigil.js    # another build, same run
 *   node dist/bench/memory.js --instances 100000 --workers 2 --tcp-handshake half        # two probe workers, half-open probes
 *   node dist/bench/memory.js --instances 100000 --alloc-profile /tmp/a.heapprofile --alloc-kind survivors   # then bench/alloc-top.mjs
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '0,100000' },
    'interval-ms': { type: 'string', default: '5000' },
    'timeout-ms': { type: 'string', default: '800' },
    seconds: { type: 'string', default: '20' },
    ports: { type: 'string', default: '4' },
    'vigil-node-args': { type: 'string', default: '' },
    vigil: { type: 'string', default: join(import.meta.dirname, 'haproxy-vigil.js') },
    snapshot: { type: 'string' },
    /** Writes V8's sampling allocation profile of the main thread over the window there. */
    'alloc-profile': { type: 'string' },
    /** `all` allocations, or the `survivors` of young-generation GCs (what fills the old generation). */
    'alloc-kind': { type: 'string', default: 'all' },
    'max-warmup-s': { type: 'string', default: '180' },
    /** `checks.workers` of the daemon (a number or `auto`). */
    workers: { type: 'string', default: 'auto' },
    /** The tcp checker's `handshake` (`full` or `half`). */
    'tcp-handshake': { type: 'string', default: 'full' },
  },
});
const SECONDS = Number(values.seconds);
const INTERVAL_MS = Number(values['interval-ms']);
const MB = 1024 * 1024;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  const answer = once(child, 'message') as Promise<[T]>;
  child.send(msg);
  return answer.then(([m]) => m);
}

interface Memory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { used: number; size: number }>;
}

async function runOne(instances: number, ports: readonly number[]): Promise<Record<string, unknown>> {
  const nodeArgs = values['vigil-node-args'] ? values['vigil-node-args'].split(',') : [];
  const arg = JSON.stringify({ instances, intervalMs: INTERVAL_MS, timeoutMs: Number(values['timeout-ms']), ports, checker: { type: 'tcp', options: { handshake: values['tcp-handshake'] } }, workers: values.workers === 'auto' ? 'auto' : Number(values.workers) });
  const child = spawn(process.execPath, [...nodeArgs, values.vigil, arg], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await once(child, 'message');
    // Warm up for one interval plus 5 s, and on until as many probes ran as there are instances
    // (so that, short of shedding, every instance has a history), for at most --max-warmup-s.
    const t = performance.now();
    await sleep(INTERVAL_MS + 5000);
    while ((await ask<{ probes: number }>(child, 'stats')).probes < instances && performance.now() - t < Number(values['max-warmup-s']) * 1000) await sleep(1000);
    const warmupS = Math.round((performance.now() - t) / 1000);
    if (values['alloc-profile']) await ask(child, `alloc-profile-start:${values['alloc-kind']}`);
    const mark = await ask<{ probes: number; shed: number }>(child, 'mark');
    const samples: number[] = [];
    const t0 = performance.now();
    for (let s = 0; s < SECONDS; s++) {
      await sleep(1000);
      samples.push(rssBytes(child.pid!));
    }
    const wallS = (performance.now() - t0) / 1000;
    const stats = await ask<{ probes: number; shed: number; lagP99Ms: number }>(child, 'stats');
    const mem = await ask<Memory>(child, 'memory');
    if (values['alloc-profile']) await ask(child, `alloc-profile-stop:${values['alloc-profile']}`);
    if (values.snapshot) await ask(child, `heap-snapshot:${values.snapshot}`);
    const probes = stats.probes - mark.probes;
    const mb = (b: number) => +(b / MB).toFixed(1);
    return {
      instances,
      warmupS,
      probesBeforeWindow: mark.probes,
      rssMaxMB: mb(Math.max(...samples)),
      rssMeanMB: mb(samples.reduce((a, b) => a + b, 0) / samples.length),
      heapUsedMB: mb(mem.heapUsed),
      heapTotalMB: mb(mem.heapTotal),
      externalMB: mb(mem.external),
      arrayBuffersMB: mb(mem.arrayBuffers),
      spacesUsedMB: Object.fromEntries(Object.entries(mem.spaces).map(([k, v]) => [k, mb(v.used)])),
      spacesSizeMB: Object.fromEntries(Object.entries(mem.spaces).map(([k, v]) => [k, mb(v.size)])),
      probesPerSecond: Math.round(probes / wallS),
      duePerSecond: Math.round(instances / (INTERVAL_MS / 1000)),
      shed: stats.shed - mark.shed,
      lagP99Ms: stats.lagP99Ms,
    };
  } finally {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.send('stop'); // it removes its data directory, then exits
      await exited;
    }
  }
}

const targets = spawn(process.execPath, [join(import.meta.dirname, '../../bench/tcp-targets.mjs'), values.ports], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  const [line] = (await once(targets.stdout!.setEncoding('utf8'), 'data')) as [string];
  const ports = JSON.parse(line) as number[];
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), load: loadavg().map((l) => +l.toFixed(2)), vigil: values.vigil, nodeArgs: values['vigil-node-args'] })}\n`);
  for (const n of values.instances.split(',').map(Number)) {
    process.stdout.write(`${JSON.stringify({ ...(await runOne(n, ports)), load: loadavg().map((l) => +l.toFixed(2)) })}\n`);
  }
} finally {
  targets.kill();
}
