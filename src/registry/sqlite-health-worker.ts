/**
 * The embedded store's health writes run on a worker thread with their own SQLite connection, so
 * the commit's fsync never blocks the event loop that probes and answers beats. The worker's body
 * is one self-contained function started with `eval` (it runs the same from src under the test
 * runner and from dist), given better-sqlite3's resolved path.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { VigilError } from '../errors.js';
import type { HealthBatchEntry } from './store.js';

interface Job {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface Reply {
  readonly id: number;
  readonly error?: string;
}

/** Runs inside the worker: must not reference anything outside itself. */
function workerMain(req: NodeRequire): void {
  const { parentPort, workerData } = req('node:worker_threads') as typeof import('node:worker_threads');
  const { sqlitePath, file, synchronous } = workerData as { sqlitePath: string; file: string; synchronous: string };
  const Database = req(sqlitePath) as typeof import('better-sqlite3');
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  db.pragma(`synchronous = ${synchronous}`);
  // Only for instances still stored: a batch landing after a deregistration must not resurrect a row.
  const upsert = db.prepare(
    'INSERT INTO health (key, value) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM instances WHERE key = ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  );
  const writeAll = db.transaction((rows: Array<[string, string]>) => {
    for (const [key, value] of rows) upsert.run(key, value, key);
  });
  parentPort!.on('message', (msg: { id: number; rows?: Array<[string, string]>; close?: true }) => {
    if (msg.close) {
      db.close();
      parentPort!.postMessage({ id: msg.id });
      return;
    }
    try {
      writeAll(msg.rows ?? []);
      parentPort!.postMessage({ id: msg.id });
    } catch (err) {
      parentPort!.postMessage({ id: msg.id, error: String((err as Error)?.message ?? err) });
    }
  });
}

export interface HealthWorker {
  write(entries: readonly HealthBatchEntry[]): Promise<void>;
  close(): Promise<void>;
}

export function startHealthWorker(file: string, synchronous: 'FULL' | 'NORMAL'): HealthWorker {
  const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');
  const jobs = new Map<number, Job>();
  let nextId = 0;
  let worker: Worker | undefined;

  function failAll(err: Error): void {
    for (const job of jobs.values()) job.reject(err);
    jobs.clear();
  }

  /** The running worker, started again after one died (a crash fails its batch; the writer retries). */
  function current(): Worker {
    if (worker) return worker;
    // The body is CommonJS: a parent started with --input-type=module must not pass that on.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const w = new Worker(`(${workerMain.toString()})(require)`, { eval: true, execArgv, workerData: { sqlitePath, file, synchronous } });
    w.on('message', (reply: Reply) => {
      const job = jobs.get(reply.id);
      jobs.delete(reply.id);
      if (jobs.size === 0) w.unref();
      if (reply.error === undefined) job?.resolve();
      else job?.reject(new VigilError('VIGIL_ERR_STORE', `writing health failed: ${reply.error}`, 'store'));
    });
    const gone = (err: Error): void => {
      if (worker === w) worker = undefined;
      failAll(new VigilError('VIGIL_ERR_STORE', `the health writer thread stopped: ${err.message}`, 'store', { cause: err }));
    };
    w.on('error', gone);
    w.on('exit', (code) => gone(new Error(`exit code ${code}`)));
    // Referenced only while a batch is in flight: an idle writer never keeps the process alive,
    // and a stopping daemon still waits for its last batch.
    w.unref();
    return (worker = w);
  }

  function send(msg: { rows?: Array<[string, string]>; close?: true }): Promise<void> {
    const id = nextId++;
    return new Promise<void>((resolve, reject) => {
      jobs.set(id, { resolve, reject });
      const w = current();
      w.ref();
      w.postMessage({ id, ...msg });
    });
  }

  return {
    write: (entries) => send({ rows: entries.map((e) => [e.key, JSON.stringify(e.health)]) }),
    async close() {
      const w = worker;
      if (!w) return;
      await send({ close: true }).catch(() => {});
      worker = undefined;
      await w.terminate();
    },
  };
}
