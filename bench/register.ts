/**
 * Store benchmark: acknowledged registrations per second through the native API, with the
 * embedded SQLite store in `synchronous=full` (fsync per commit) and `normal` (crash-safe, not
 * power-loss-safe). Also the start-up time with those instances in the store.
 *
 *   npm run build && node dist/bench/register.js --instances 3000 --concurrency 16
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { request } from 'undici';
import { buildApp } from '../src/app.js';
import { parseConfig } from '../src/config/load.js';
import { createHistogram } from '../src/health/lag-histogram.js';

const { values } = parseArgs({
  options: { instances: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '16' } },
});
const N = Number(values.instances);
const C = Number(values.concurrency);

async function run(synchronous: 'full' | 'normal'): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-store-'));
  const config = parseConfig({ api: { port: 0 }, store: { dataDir, synchronous }, checks: { enabled: false }, log: { level: 'warn' } });
  try {
    let app = buildApp(config, { logger: pino({ level: 'warn' }) });
    const { url } = await app.start();
    const latency = createHistogram(10_000);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (next < N) {
          const i = next++;
          const body = JSON.stringify({ service: `svc-${i % 100}`, ip: `127.0.${i >> 8}.${i & 255}`, port: 3306, checker: { type: 'tcp' } });
          const s = performance.now();
          const res = await request(`${url}/v1/instances`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
          await res.body.dump();
          if (res.statusCode !== 201) throw new Error(`registration answered ${res.statusCode}`);
          latency.record(performance.now() - s);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await app.stop();
    app = buildApp(config, { logger: pino({ level: 'warn' }) });
    const s0 = performance.now();
    await app.start();
    const startupMs = performance.now() - s0;
    await app.stop();
    return {
      synchronous,
      instances: N,
      concurrency: C,
      registrationsPerSecond: Math.round(N / seconds),
      p50Ms: latency.quantile(0.5),
      p99Ms: latency.quantile(0.99),
      restartMs: Math.round(startupMs),
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const mode of ['full', 'normal'] as const) process.stdout.write(`${JSON.stringify(await run(mode))}\n`);
