/**
 * Mass flip: N persistent TCP instances go DOWN at once (their target process is killed, so every
 * next probe is refused, fail-now). Measures the event loop's delay (perf_hooks
 * monitorEventLoopDelay) while every flip is announced and written, and how long until all are
 * DOWN. Reference, same run: the old write path, one synchronous SQLite commit per flip (fsync,
 * `synchronous=FULL`) on the main thread, for the same N rows.
 *
 *   npm run build && node dist/bench/mass-flip.js --instances 2000
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pino from 'pino';
import { request } from 'undici';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';
import { initialState } from '../src/health/state-machine.js';
import { instanceKey, type Instance } from '../src/registry/model.js';
import { openSqliteStore } from '../src/registry/sqlite-store.js';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '2000' }, ports: { type: 'string', default: '20' } } });
const N = Number(values.instances);
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 500;
const ms = (ns: number) => (ns / 1e6).toFixed(1);

async function countUp(url: string): Promise<number> {
  const res = await request(`${url}/v1/instances?healthy=true&limit=5000`);
  return ((await res.body.json()) as { instances: unknown[] }).instances.length;
}

/** The old path: one synchronous commit (fsync) per health change, on this thread. */
function referenceSyncCommits(rows: number): { totalMs: number } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-ref-'));
  try {
    const db = new Database(join(dir, 'ref.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE health (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const put = db.prepare('INSERT INTO health (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    const value = JSON.stringify({ health: { ...initialState(Date.now()), healthy: false, reason: 'refused' } });
    const t0 = performance.now();
    for (let i = 0; i < rows; i++) put.run(`k${i}`, value);
    const totalMs = performance.now() - t0;
    db.close();
    return { totalMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const targets = spawn(process.execPath, [join(import.meta.dirname, '../../bench/tcp-targets.mjs'), values.ports], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(targets.stdout!.setEncoding('utf8'), 'data')) as [string];
  const ports = JSON.parse(line) as number[];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-flip-'));
  try {
    const seed = openSqliteStore({ dataDir, synchronous: 'normal' });
    for (let i = 0; i < N; i++) {
      const j = Math.floor(i / ports.length);
      const inst: Instance = {
        namespace: 'public', group: 'DEFAULT_GROUP', service: `svc-${i % 50}`, cluster: 'DEFAULT',
        ip: `127.1.${j >> 8}.${j & 255}`, port: ports[i % ports.length]!, weight: 1, enabled: true,
        ephemeral: false, metadata: {}, registeredAt: Date.now(),
      };
      seed.putInstance(instanceKey(inst), inst, { health: initialState(Date.now()) });
    }
    await seed.close();

    const config = parseConfig({
      api: { port: 0 }, store: { dataDir, synchronous: 'full' }, log: { level: 'warn' },
      server: { readsPerSecond: 0 },
      checks: { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, fastIntervalMs: INTERVAL_MS, downIntervalMs: INTERVAL_MS * 10 },
    });
    const app = buildApp(config, { logger: pino({ level: 'warn' }) });
    const { url } = await app.start();
    // Every instance probed at least twice: steady and UP.
    while (app.stats()!.probes < 2 * N) await new Promise((r) => setTimeout(r, 100));
    if ((await countUp(url)) !== N) throw new Error('not every instance is UP before the flip');

    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await new Promise((r) => setTimeout(r, 2000));
    idle.disable();

    const flip = monitorEventLoopDelay({ resolution: 1 });
    flip.enable();
    const t0 = performance.now();
    targets.kill('SIGKILL');
    let allDownMs = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      if ((await countUp(url)) === 0) {
        allDownMs = performance.now() - t0;
        break;
      }
      if (performance.now() - t0 > 30_000) throw new Error('not all DOWN within 30 s');
    }
    await new Promise((r) => setTimeout(r, 500)); // the last batches are written
    flip.disable();
    await app.stop();

    const ref = referenceSyncCommits(N);
    console.log(JSON.stringify({
      instances: N,
      intervalMs: INTERVAL_MS,
      timeoutMs: TIMEOUT_MS,
      allDownMs: Math.round(allDownMs),
      loopDelayIdle: { p50: ms(idle.percentile(50)), p99: ms(idle.percentile(99)), max: ms(idle.max) },
      loopDelayFlip: { p50: ms(flip.percentile(50)), p99: ms(flip.percentile(99)), max: ms(flip.max) },
      reference: { syncCommitsOnMainThreadMs: Math.round(ref.totalMs), perCommitMs: (ref.totalMs / N).toFixed(2) },
    }, null, 2));
  } finally {
    targets.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
