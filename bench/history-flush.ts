/**
 * The uptime-count flush at scale (src/observe/history.ts, history-store.ts): N instances with one
 * probe each, then a pass taken and written the old way (one takeDirty, one transaction) and in
 * slices of 500 instances as the daemon does now; prints the longest stretch of event loop each
 * holds (the longest slice is usually the one that met SQLite's WAL checkpoint). Three rounds each, a fresh history store in a temporary directory.
 *
 *   npm run build && node dist/bench/history-flush.js --instances 100000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHistory } from '../src/observe/history.js';
import { openHistoryStore } from '../src/observe/history-store.js';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '100000' }, slice: { type: 'string', default: '500' } } });
const N = Number(values.instances);
const SLICE = Number(values.slice);
const dir = mkdtempSync(join(tmpdir(), 'vigil-history-flush-'));
const store = openHistoryStore(dir);
const history = createHistory({ results: 100, days: 30 });
const t0 = Date.UTC(2026, 11, 3);
const keys = Array.from({ length: N }, (_, i) => `public##DEFAULT_GROUP@@svc-${i % 1000}##DEFAULT#127.1.${i >> 8}.${i & 255}#8080`);
const probeAll = (at: number): void => {
  for (const key of keys) history.record(key, { status: 'ok', reason: 'connected', type: 'tcp', latencyMs: 0.3, startedAt: at });
};
for (let round = 0; round < 3; round++) {
  probeAll(t0 + round * 120_000);
  let t = performance.now();
  const rows = history.takeDirty(t0 + round * 120_000 + 1);
  store.write(rows);
  const whole = performance.now() - t;
  probeAll(t0 + round * 120_000 + 60_000);
  let longest = 0;
  let slices = 0;
  let total = 0;
  do {
    t = performance.now();
    store.write(history.takeDirty(t0 + round * 120_000 + 60_001, SLICE));
    const spent = performance.now() - t;
    longest = Math.max(longest, spent);
    total += spent;
    slices++;
  } while (history.passOpen);
  process.stdout.write(`${JSON.stringify({ instances: N, rows: rows.length, oneBatchMs: +whole.toFixed(1), slices, meanSliceMs: +(total / slices).toFixed(2), longestSliceMs: +longest.toFixed(2) })}\n`);
}
store.close();
rmSync(dir, { recursive: true, force: true });
