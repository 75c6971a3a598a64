/**
 * The vigil side of bench/haproxy.ts, in its own process so that its CPU and RSS can be read from
 * /proc/<pid> exactly as HAProxy's are. Seeds N persistent instances (one 127.1x.y.z address each,
 * the same addresses HAProxy's servers use) into a fresh embedded store, starts the daemon
 * (`buildApp`, the production wiring) and answers the parent's IPC questions:
 *   'mark'  → resets the lag histogram, answers { probes, shed }
 *   'stats' → answers { probes, shed, skipped, lagP50Ms, lagP99Ms, outcomes }
 *   'memory' → answers process.memoryUsage() and V8's heap spaces (bench/memory.ts)
 *   'heap-snapshot:<file>' → writes a heap snapshot there, answers { file }
 *   'alloc-profile-start:all|survivors' → starts V8's sampling heap profiler (every allocation, or
 *     only those not collected by a young-generation GC), answers {}
 *   'alloc-profile-stop:<file>' → writes the profile there (bench/alloc-top.mjs reads it), answers { file }
 * Started by bench/haproxy.ts with one JSON argument: { instances, intervalMs, timeoutMs, ports, checker, workers }.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import pino from 'pino';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';
import { initialState } from '../src/health/state-machine.js';
import { instanceKey, type Instance } from '../src/registry/model.js';
import { openSqliteStore } from '../src/registry/sqlite-store.js';
import { targetAddress } from './haproxy-targets.js';

interface Args {
  readonly instances: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly ports: readonly number[];
  readonly checker: { readonly type: string; readonly options: Record<string, unknown> };
  /** `checks.workers`. */
  readonly workers: number | 'auto';
}

const args = JSON.parse(process.argv[2]!) as Args;
const dataDir = mkdtempSync(join(tmpdir(), 'vigil-haproxy-bench-'));

const store = openSqliteStore({ dataDir, synchronous: 'normal' });
const now = Date.now();
for (let i = 0; i < args.instances; i++) {
  const { host, port } = targetAddress(i, args.ports);
  const inst: Instance = {
    namespace: 'public', group: 'DEFAULT_GROUP', service: `svc-${i % 1000}`, cluster: 'DEFAULT',
    ip: host, port, weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: now,
  };
  store.putInstance(instanceKey(inst), inst, { health: initialState(now) });
}
await store.close();

const config = parseConfig({
  api: { port: 0 },
  store: { dataDir, synchronous: 'normal' },
  log: { level: 'warn' },
  checks: { intervalMs: args.intervalMs, timeoutMs: args.timeoutMs, jitter: 0.1, checker: args.checker, workers: args.workers },
});
const app = buildApp(config, { logger: pino({ level: 'warn' }) });
const { url } = await app.start();
const stats = app.stats()!;

let profiler: Session | undefined;

/** Samples allocations about every 4 KB, keeping those collected by GCs too (by minor GCs only with `all`). */
async function startAllocProfile(kind: string): Promise<void> {
  profiler = new Session();
  profiler.connect();
  await profiler.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: kind === 'all' });
}

async function stopAllocProfile(file: string): Promise<void> {
  const { profile } = await profiler!.post('HeapProfiler.stopSampling');
  writeFileSync(file, JSON.stringify(profile));
  profiler!.disconnect();
  profiler = undefined;
}

process.on('message', (msg: string) => {
  if (msg === 'mark') {
    stats.resetLag();
    process.send!({ probes: stats.probes, shed: stats.shed });
  } else if (msg === 'stats') {
    process.send!({
      probes: stats.probes, shed: stats.shed, skipped: stats.skipped,
      lagP50Ms: stats.lagQuantile(0.5), lagP99Ms: stats.lagQuantile(0.99), outcomes: stats.outcomes(),
    });
  } else if (msg === 'memory') {
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, size: s.space_size }]));
    process.send!({ ...process.memoryUsage(), spaces });
  } else if (msg.startsWith('alloc-profile-start:')) {
    void startAllocProfile(msg.slice('alloc-profile-start:'.length)).then(() => process.send!({}));
  } else if (msg.startsWith('alloc-profile-stop:')) {
    const file = msg.slice('alloc-profile-stop:'.length);
    void stopAllocProfile(file).then(() => process.send!({ file }));
  } else if (msg.startsWith('heap-snapshot:')) {
    process.send!({ file: writeHeapSnapshot(msg.slice('heap-snapshot:'.length)) });
  } else if (msg === 'stop') {
    void app.stop().then(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
process.send!({ ready: true, url });
