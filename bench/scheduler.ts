/**
 * Scheduler benchmark: N persistent instances with TCP checks every 5 s against loopback targets
 * (127.x.y.z addresses, one wildcard listener process). Reports achieved probe rate, scheduling
 * lag p50/p99 (due time → probe start), CPU per probe beside a bare connect loop measured in the
 * same process, RSS per instance and start-up time with N instances in the store.
 *
 *   npm run build && node --expose-gc dist/bench/scheduler.js --instances 100000 --seconds 30
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';
import { initialState } from '../src/health/state-machine.js';
import { instanceKey, type Instance } from '../src/registry/model.js';
import { openSqliteStore } from '../src/registry/sqlite-store.js';
import { bareConnectLoop } from './reference.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
    ports: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '1024' },
  },
});
const N = Number(values.instances);
const SECONDS = Number(values.seconds);
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** CPU seconds a process has used, from /proc (Linux), to show what the targets cost. */
function procCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function ipOf(j: number): string {
  return `127.${1 + (j >> 16)}.${(j >> 8) & 255}.${j & 255}`;
}

async function main(): Promise<void> {
  const targets = spawn(process.execPath, [join(import.meta.dirname, '../../bench/tcp-targets.mjs'), values.ports], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(targets.stdout!.setEncoding('utf8'), 'data')) as [string];
  const ports = JSON.parse(line) as number[];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  try {
    // Seed the store directly (the API path is measured separately): N persistent TCP instances.
    const seed0 = performance.now();
    const store = openSqliteStore({ dataDir, synchronous: 'normal' });
    const now = Date.now();
    for (let i = 0; i < N; i++) {
      const inst: Instance = {
        namespace: 'public', group: 'DEFAULT_GROUP', service: `svc-${i % 1000}`, cluster: 'DEFAULT',
        ip: ipOf(Math.floor(i / ports.length)), port: ports[i % ports.length]!, weight: 1, enabled: true,
        ephemeral: false, metadata: {}, registeredAt: now,
      };
      store.putInstance(instanceKey(inst), inst, { health: initialState(now) });
    }
    await store.close();
    const seedMs = performance.now() - seed0;

    // The same addresses the instances use, so both pay the same kernel route and socket costs.
    const ref = await bareConnectLoop((i) => ({ host: ipOf(Math.floor(i / ports.length) % Math.ceil(N / ports.length)), port: ports[i % ports.length]! }), 20_000);
    gc();
    const rssBase = process.memoryUsage().rss;

    const config = parseConfig({
      api: { port: 0 },
      store: { dataDir },
      log: { level: 'warn' },
      checks: { intervalMs: 5000, timeoutMs: 2000, jitter: 0.1, maxConcurrent: Number(values.concurrency) },
    });
    const app = buildApp(config, { logger: pino({ level: 'warn' }) });
    const t0 = performance.now();
    await app.start();
    const startupMs = performance.now() - t0;

    // Warm up: the random first delays spread over one interval; then one more interval.
    await new Promise((r) => setTimeout(r, 10_000));
    const stats = app.stats()!;
    stats.resetLag();
    const probes0 = stats.probes;
    const cpu0 = process.cpuUsage();
    const targetCpu0 = procCpuSeconds(targets.pid!);
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const wallS = (performance.now() - w0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const targetCores = (procCpuSeconds(targets.pid!) - targetCpu0) / wallS;
    const probes = stats.probes - probes0;
    gc();
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    const result = {
      instances: N,
      seedSeconds: +(seedMs / 1000).toFixed(1),
      startupMs: Math.round(startupMs),
      probesPerSecond: Math.round(probes / wallS),
      expectedPerSecond: Math.round(N / 5),
      lagP50Ms: stats.lagQuantile(0.5),
      lagP99Ms: stats.lagQuantile(0.99),
      skipped: stats.skipped,
      shed: stats.shed,
      targetProcessCores: +targetCores.toFixed(2),
      cpuUsPerProbe: +((cpu.user + cpu.system) / probes).toFixed(1),
      cpuCores: +((cpu.user + cpu.system) / 1e6 / wallS).toFixed(2),
      referenceCpuUsPerConnect: +ref.cpuUsPerConnect.toFixed(1),
      rssMB: +mb(rss),
      rssBaseMB: +mb(rssBase),
      rssBytesPerInstance: Math.round((rss - rssBase) / N),
      heapUsedMB: +mb(heapUsed),
      heapTotalMB: +mb(heapTotal),
      externalMB: +mb(external),
      outcomes: stats.outcomes(),
    };
    await app.stop();
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    targets.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
