/**
 * A probe worker thread (started by probe-pool.ts): loads the same checkers as the daemon (the
 * built-ins and the configured plugins), runs each probe it is sent through the ordinary runner
 * (deadline, verdicts, the credential host rule) with its own connection pool, and sends the
 * results back in batches. It decides nothing about health: that stays on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { builtinCheckers } from '../../checkers/index.js';
import { createCredentialStore } from '../security/credentials.js';
import { createCheckerRegistry } from './checker-registry.js';
import type { Checker, Fact, ProbeResult, ResourceCache } from './contract.js';
import { loadPlugins } from './plugin-loader.js';
import { ALIVE_EVERY_MS, NO_DETAIL, RefKind, RESULT_STRIDE, SETTLED, VERDICTS, PROBE_STRIDE, type Definition, type FromWorker, type ToWorker, type WorkerInit } from './probe-wire.js';
import { createResourcePool } from './resources.js';
import { createRunner } from './runner.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (msg: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(msg, transfer);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const checkers = createCheckerRegistry(builtinCheckers);
try {
  await loadPlugins(checkers, init.plugins, init.baseDir);
} catch (err) {
  post({ kind: 'failed', message: (err as Error).message });
  process.exit(1);
}
const runner = createRunner({ credentials: createCredentialStore(init.credentials) });
const resources = createResourcePool();
/** One cache view per checker type (scope() builds a new one on each call). */
const scopes = new Map<string, ResourceCache>();
function scopeOf(type: string): ResourceCache {
  let scope = scopes.get(type);
  if (!scope) scopes.set(type, (scope = resources.scope(type)));
  return scope;
}
/** Checkers, options, targets and wake functions by the number the main thread gave them. */
const refs = new Map<number, unknown>();

// The outgoing batch: parallel arrays, flushed once per event-loop turn.
let results: number[] = [];
let details: number[] = [];
let strings = new Map<string, number>();
let facts: Array<readonly [number, Readonly<Record<string, Fact>>]> = [];
let settledLate: number[] = [];
let wakes: number[] = [];
let flushing = false;
/**
 * Probes not answered yet, by their number (a handle the main thread reuses once a probe is answered
 * and its attempt has ended, so a dense array): 0 none, OPEN, or OPEN_SETTLED when the checker's
 * attempt has already ended.
 */
const OPEN = 1;
const OPEN_SETTLED = 2;
const open: number[] = [];

function stringIndex(s: string): number {
  let i = strings.get(s);
  if (i === undefined) strings.set(s, (i = strings.size));
  return i;
}

function flush(): void {
  flushing = false;
  const batch = new Float64Array(results);
  const detailIdx = new Int32Array(details);
  post(
    { kind: 'results', results: batch, strings: [...strings.keys()], details: detailIdx, facts, settled: settledLate, wakes, overdue: runner.stats.overdue, late: runner.stats.late, resources: resources.size },
    [batch.buffer, detailIdx.buffer],
  );
  results = [];
  details = [];
  strings = new Map();
  facts = [];
  settledLate = [];
  wakes = [];
}

function soon(): void {
  if (flushing) return;
  flushing = true;
  setImmediate(flush);
}

function answer(id: number, r: ProbeResult): void {
  const settled = open[id] === OPEN_SETTLED;
  open[id] = 0;
  const index = results.length / RESULT_STRIDE;
  results.push(id, VERDICTS.indexOf(r.status) | (settled ? SETTLED : 0), stringIndex(r.reason), r.latencyMs, r.startedAt);
  details.push(r.detail === undefined ? NO_DETAIL : stringIndex(r.detail));
  if (r.facts !== undefined) facts.push([index, r.facts]);
  soon();
}

function checkerSettled(id: number): void {
  if (open[id] === OPEN) open[id] = OPEN_SETTLED;
  else {
    settledLate.push(id);
    soon();
  }
}

function define([id, kind, value]: Definition): void {
  if (kind === RefKind.checker) refs.set(id, checkers.has(value as string) ? checkers.get(value as string) : undefined);
  else if (kind === RefKind.wake) {
    refs.set(id, () => {
      wakes.push(id);
      soon();
    });
  } else refs.set(id, deepFreeze(value));
}

function start(probes: Float64Array): void {
  for (let i = 0; i < probes.length; i += PROBE_STRIDE) {
    const id = probes[i]!;
    const checker = refs.get(probes[i + 1]!) as Checker;
    const wakeRef = probes[i + 4]!;
    open[id] = OPEN;
    void runner
      .run({
        checker,
        options: refs.get(probes[i + 2]!) as object,
        target: refs.get(probes[i + 3]!) as never,
        timeoutMs: probes[i + 5]!,
        resources: scopeOf(checker.type),
        wake: wakeRef === 0 ? undefined : (refs.get(wakeRef) as () => void),
        onCheckerSettled: () => checkerSettled(id),
      })
      .then((r) => answer(id, r));
  }
}

async function resourceOp(msg: Extract<ToWorker, { kind: 'resources' }>): Promise<void> {
  let count = 0;
  if (msg.op === 'release') count = await resources.releaseTarget(msg.host, msg.port);
  else if (msg.op === 'sweep') count = await resources.sweepIdle(msg.idleMs);
  else await resources.closeAll();
  post({ kind: 'resources-done', seq: msg.seq, count });
}

port.on('message', (msg: ToWorker) => {
  if (msg.kind === 'probes') {
    for (const d of msg.defs) define(d);
    start(msg.probes);
    // After starting: a reference dropped by the main thread may still be used by this very batch.
    for (const id of msg.forget) refs.delete(id);
  } else if (msg.kind === 'abort') runner.abortAll();
  else void resourceOp(msg);
});
post({ kind: 'ready', types: checkers.types() });
// Unref'd: it must not keep a worker alive that has nothing else to do.
setInterval(() => post({ kind: 'alive' }), ALIVE_EVERY_MS).unref();
