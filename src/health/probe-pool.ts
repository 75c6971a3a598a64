/**
 * Probe execution on worker threads, behind the ordinary `Runner` interface: the scheduler keeps
 * every decision and all health state on the main thread and calls `run()` as before; the pool
 * sends the probe to the worker that owns its target (a stable hash of `host:port`, so one
 * target's reusable connections live in one worker) and resolves with the worker's result.
 * Probes and results cross in batches, one message per worker per event-loop turn
 * (probe-wire.ts); checkers, options, targets and wake functions cross once per worker and by
 * number afterwards (ref-table.ts).
 *
 * A worker that dies (an uncaught throw, `process.exit` in a plugin, `terminate()`) is started
 * again at once. Every probe it had been given is answered `fail` / `worker-crashed` exactly once,
 * never run again: it may already have reached its target, and its deadline may have passed; one
 * `fail` counts towards the fall threshold like a timeout and flips nothing by itself. Later
 * probes of that shard go to the new worker.
 *
 * Run in-process instead (the pool's own runner): a probe with an abort signal (a one-off caller),
 * a checker type the workers did not load (added by code rather than by `plugins`), and options a
 * worker cannot be sent (a plugin schema whose output holds a function).
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { hash32 } from '../cluster/shards.js';
import { VigilError } from '../errors.js';
import type { CredentialStore } from '../security/credentials.js';
import type { Fact, ProbeResult, Target } from './contract.js';
import { NO_DETAIL, RefKind, RESULT_STRIDE, SETTLED, VERDICTS, type Definition, type FromWorker, type ResultBatch, type ToWorker, type WorkerInit } from './probe-wire.js';
import { RefTable } from './ref-table.js';
import { createResourcePool, type ResourcePool } from './resources.js';
import { createRunner, type ProbeRequest, type Runner, type RunnerStats } from './runner.js';

/** A worker that died before it was ready is started again after this long, not in a tight loop. */
export const RESTART_DELAY_MS = 1000;
/** At stop, a worker closing its connections is terminated after this long. */
export const STOP_GRACE_MS = 2000;

/**
 * A worker that owes answers and has not been heard from for this long (it says it is alive every
 * ALIVE_EVERY_MS) has its thread blocked, by a checker that never yields: it is ended and replaced.
 */
export const WORKER_HANG_MS = 10_000;

export const WORKER_CRASHED = 'worker-crashed';

export interface ProbePoolOptions {
  /** Worker threads, at least 1 (0 means "in-process": use createRunner instead of a pool). */
  readonly workers: number;
  /** Plugin specs, loaded in every worker as the daemon loaded them. */
  readonly plugins: readonly string[];
  readonly baseDir?: string | undefined;
  readonly credentials: CredentialStore;
  readonly logger?: Logger;
  /** Silence after which a worker that owes answers is ended (default WORKER_HANG_MS). */
  readonly hangMs?: number;
  /** The worker's entry; by default the compiled probe-worker.js (from dist/ when running from src under the test runner). */
  readonly workerScript?: URL;
}

export interface ProbePoolStats {
  readonly workers: number;
  /** Workers started again after one died. */
  readonly restarts: number;
  /** Probes answered `worker-crashed`. */
  readonly crashed: number;
}

export interface ProbePool {
  /** Starts the workers; resolves when every one has loaded its checkers. */
  start(): Promise<void>;
  readonly runner: Runner;
  /** Connection pool operations reach every worker's pool (and the in-process one). */
  readonly resources: ResourcePool;
  /** Aborts what runs, closes the workers' connections and ends the threads. */
  stop(): Promise<void>;
  readonly stats: ProbePoolStats;
  /** The live worker threads, one per shard (tests end one to see it replaced). */
  threads(): readonly Worker[];
}

interface Pending {
  readonly resolve: (result: ProbeResult) => void;
  readonly type: string;
  readonly onSettled: (() => void) | undefined;
  answered: boolean;
}

/** One worker thread and everything bound to its life: what it has been sent, what it owes. */
interface Slot {
  worker: Worker | undefined;
  ready: boolean;
  /** Objects whose definitions this worker has (or has queued). */
  sent: WeakSet<object>;
  defs: Definition[];
  probes: number[];
  pending: Map<number, Pending>;
  ops: Map<number, (count: number) => void>;
  starting: { resolve: () => void; reject: (err: Error) => void } | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the worker's last message. */
  heard: number;
  /** Set when the watchdog ends the worker: the detail its probes are answered with. */
  hung: string | undefined;
  overdue: number;
  late: number;
  resources: number;
}

/** The worker count `checks.workers` asks for: `auto` is one per core but the main thread's. */
export function probeWorkers(setting: number | 'auto', cores: number = availableParallelism()): number {
  return setting === 'auto' ? Math.max(0, cores - 1) : setting;
}

function defaultScript(): URL {
  const here = new URL('./probe-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  // Running from src/ under the test runner: the worker is plain Node, so it runs the build.
  return new URL('../../dist/src/health/probe-worker.js', import.meta.url);
}

function resultOf(type: string, status: ProbeResult['status'], reason: string, detail: string | undefined, facts: Readonly<Record<string, Fact>> | undefined, latencyMs: number, startedAt: number): ProbeResult {
  if (detail === undefined) return facts === undefined ? { status, reason, type, latencyMs, startedAt } : { status, reason, facts, type, latencyMs, startedAt };
  return facts === undefined ? { status, reason, detail, type, latencyMs, startedAt } : { status, reason, detail, facts, type, latencyMs, startedAt };
}

function isCloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

export function createProbePool(opts: ProbePoolOptions): ProbePool {
  if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError('a probe pool needs at least one worker');
  const script = opts.workerScript ?? defaultScript();
  const init: WorkerInit = { plugins: opts.plugins, baseDir: opts.baseDir, credentials: opts.credentials.inputs };
  const local = createRunner({ credentials: opts.credentials });
  const localResources = createResourcePool();
  const refs = new RefTable();
  const wakes = new Map<number, WeakRef<() => void>>();
  const shards = new WeakMap<Target, number>();
  const cloneable = new WeakMap<object, boolean>();
  let workerTypes = new Set<string>();
  const slots: Slot[] = [];
  let nextId = 1;
  let nextSeq = 1;
  let flushQueued = false;
  let stopped = false;
  let restarts = 0;
  let crashed = 0;
  let watchdog: NodeJS.Timeout | undefined;
  const hangMs = opts.hangMs ?? WORKER_HANG_MS;

  for (let i = 0; i < opts.workers; i++) {
    slots.push({ worker: undefined, ready: false, sent: new WeakSet(), defs: [], probes: [], pending: new Map(), ops: new Map(), starting: undefined, restartTimer: undefined, heard: 0, hung: undefined, overdue: 0, late: 0, resources: 0 });
  }

  function shardOf(target: Target): Slot {
    let s = shards.get(target);
    if (s === undefined) shards.set(target, (s = hash32(`${target.host}:${target.port}`) % slots.length));
    return slots[s]!;
  }

  function ref(slot: Slot, obj: object, kind: Definition[1], value: unknown): number {
    const id = refs.id(obj);
    if (!slot.sent.has(obj)) {
      slot.sent.add(obj);
      slot.defs.push([id, kind, value]);
    }
    return id;
  }

  function wakeRef(slot: Slot, wake: () => void): number {
    const id = ref(slot, wake, RefKind.wake, null);
    if (!wakes.has(id)) wakes.set(id, new WeakRef(wake));
    return id;
  }

  function runsHere(req: ProbeRequest): boolean {
    if (req.signal !== undefined || !workerTypes.has(req.checker.type)) return true;
    let ok = cloneable.get(req.options);
    if (ok === undefined) cloneable.set(req.options, (ok = isCloneable(req.options)));
    return !ok;
  }

  function run(req: ProbeRequest): Promise<ProbeResult> {
    if (stopped) {
      req.onCheckerSettled?.();
      return Promise.resolve(resultOf(req.checker.type, 'fail', 'aborted', 'vigil is stopping', undefined, 0, Date.now()));
    }
    if (runsHere(req)) return local.run(req);
    const slot = shardOf(req.target);
    const id = nextId++;
    const { checker } = req;
    slot.probes.push(
      id,
      ref(slot, checker, RefKind.checker, checker.type),
      ref(slot, req.options, RefKind.options, req.options),
      ref(slot, req.target, RefKind.target, req.target),
      req.wake === undefined ? 0 : wakeRef(slot, req.wake),
      req.timeoutMs,
    );
    if (!flushQueued) {
      flushQueued = true;
      setImmediate(flush);
    }
    return new Promise((resolve) => slot.pending.set(id, { resolve, type: checker.type, onSettled: req.onCheckerSettled, answered: false }));
  }

  function flush(): void {
    flushQueued = false;
    const gone = refs.takeGone();
    for (const id of gone) wakes.delete(id);
    for (const slot of slots) {
      // A slot between workers keeps its queue for the next one.
      if (!slot.worker || (slot.probes.length === 0 && gone.length === 0)) continue;
      const probes = new Float64Array(slot.probes);
      const msg: ToWorker = { kind: 'probes', defs: slot.defs, forget: gone, probes };
      slot.worker.postMessage(msg, [probes.buffer]);
      slot.probes = [];
      slot.defs = [];
    }
  }

  function onResults(slot: Slot, b: ResultBatch): void {
    slot.overdue = b.overdue;
    slot.late = b.late;
    slot.resources = b.resources;
    const r = b.results;
    let f = 0;
    for (let i = 0, n = 0; i < r.length; i += RESULT_STRIDE, n++) {
      const id = r[i]!;
      const flags = r[i + 1]!;
      const p = slot.pending.get(id);
      const facts = b.facts[f]?.[0] === n ? b.facts[f++]![1] : undefined;
      if (!p) continue;
      if (!p.answered) {
        p.answered = true;
        const d = b.details[n]!;
        p.resolve(resultOf(p.type, VERDICTS[flags & 3]!, b.strings[r[i + 2]!]!, d === NO_DETAIL ? undefined : b.strings[d], facts, r[i + 3]!, r[i + 4]!));
      }
      if (flags & SETTLED) {
        slot.pending.delete(id);
        p.onSettled?.();
      }
    }
    for (const id of b.settled) {
      const p = slot.pending.get(id);
      slot.pending.delete(id);
      p?.onSettled?.();
    }
    for (const id of b.wakes) wakes.get(id)?.deref()?.();
  }

  /** Answers everything the slot's worker owed (it is gone) and forgets what it had been sent. */
  function orphan(slot: Slot, detail: string): void {
    const pending = slot.pending;
    slot.pending = new Map();
    slot.probes = [];
    slot.defs = [];
    slot.sent = new WeakSet();
    slot.overdue = slot.late = slot.resources = 0;
    for (const done of slot.ops.values()) done(0);
    slot.ops.clear();
    const at = Date.now();
    for (const p of pending.values()) {
      if (!p.answered) {
        crashed++;
        p.resolve(resultOf(p.type, 'fail', WORKER_CRASHED, detail, undefined, 0, at));
      }
      p.onSettled?.();
    }
  }

  function onMessage(slot: Slot, msg: FromWorker): void {
    slot.heard = performance.now();
    if (msg.kind === 'results') onResults(slot, msg);
    else if (msg.kind === 'alive') return;
    else if (msg.kind === 'resources-done') {
      slot.ops.get(msg.seq)?.(msg.count);
      slot.ops.delete(msg.seq);
    } else if (msg.kind === 'ready') {
      slot.ready = true;
      workerTypes = new Set(msg.types);
      slot.starting?.resolve();
      slot.starting = undefined;
    } else {
      slot.starting?.reject(new VigilError('VIGIL_ERR_PLUGIN_LOAD', `probe worker: ${msg.message}`, 'plugins'));
      slot.starting = undefined;
    }
  }

  function onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    const wasReady = slot.ready;
    slot.worker = undefined;
    slot.ready = false;
    slot.starting?.reject(new VigilError('VIGIL_ERR_PLUGIN_LOAD', `probe worker exited with code ${code} while starting`, 'plugins'));
    slot.starting = undefined;
    orphan(slot, slot.hung ?? `the probe worker thread ended (exit code ${code}) before answering`);
    slot.hung = undefined;
    if (stopped) return;
    restarts++;
    opts.logger?.warn({ code, restarts }, 'probe worker ended; starting a new one');
    if (wasReady) spawn(slot);
    else slot.restartTimer = setTimeout(() => !stopped && spawn(slot), RESTART_DELAY_MS).unref();
  }

  function spawn(slot: Slot): void {
    slot.restartTimer = undefined;
    // Flags for the main thread's own entry (a module type for `-e`) must not reach the worker.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(script, { workerData: init, execArgv });
    slot.worker = worker;
    slot.heard = performance.now();
    worker.on('message', (msg: FromWorker) => slot.worker === worker && onMessage(slot, msg));
    worker.on('error', (err) => opts.logger?.error({ err }, 'probe worker threw'));
    worker.on('exit', (code) => onExit(slot, worker, code));
    // Queued probes of a shard whose worker died wait for this one.
    if (slot.probes.length > 0 && !flushQueued) {
      flushQueued = true;
      setImmediate(flush);
    }
  }

  /** Ends the workers that owe answers and have been silent too long: a checker blocks their thread. */
  function watch(): void {
    const at = performance.now();
    for (const slot of slots) {
      if (!slot.worker || !slot.ready || slot.pending.size === 0 || at - slot.heard < hangMs) continue;
      slot.hung = `the probe worker was silent for ${Math.round(at - slot.heard)} ms (a checker blocks its thread) and was ended`;
      opts.logger?.error({ silentMs: Math.round(at - slot.heard) }, 'probe worker hangs; ending it');
      void slot.worker.terminate();
    }
  }

  /** Sends a connection-pool operation to every live worker; resolves with their counts summed. */
  async function everyWorker(make: (seq: number) => ToWorker): Promise<number> {
    const counts = await Promise.all(
      slots.map((slot) => {
        const worker = slot.worker;
        if (!worker) return 0;
        const seq = nextSeq++;
        return new Promise<number>((resolve) => {
          slot.ops.set(seq, resolve);
          worker.postMessage(make(seq));
        });
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  const resources: ResourcePool = {
    scope: (type) => localResources.scope(type),
    async sweepIdle(idleMs) {
      const [here, there] = await Promise.all([localResources.sweepIdle(idleMs), everyWorker((seq) => ({ kind: 'resources', seq, op: 'sweep', idleMs }))]);
      return here + there;
    },
    async releaseTarget(host, port) {
      const [here, there] = await Promise.all([localResources.releaseTarget(host, port), everyWorker((seq) => ({ kind: 'resources', seq, op: 'release', host, port }))]);
      return here + there;
    },
    async closeAll() {
      await Promise.all([localResources.closeAll(), everyWorker((seq) => ({ kind: 'resources', seq, op: 'close' }))]);
    },
    get size() {
      return slots.reduce((n, s) => n + s.resources, localResources.size);
    },
  };

  const stats: RunnerStats = {
    get overdue() {
      return slots.reduce((n, s) => n + s.overdue, local.stats.overdue);
    },
    get late() {
      return slots.reduce((n, s) => n + s.late, local.stats.late);
    },
  };

  function abortAll(reason?: unknown): void {
    local.abortAll(reason);
    const at = Date.now();
    // Answered here and now; each entry stays until its worker reports the attempt ended (or dies).
    for (const slot of slots) {
      for (const p of slot.pending.values()) {
        if (p.answered) continue;
        p.answered = true;
        p.resolve(resultOf(p.type, 'fail', 'aborted', 'probe cancelled', undefined, 0, at));
      }
      slot.worker?.postMessage({ kind: 'abort' } satisfies ToWorker);
    }
  }

  return {
    async start() {
      const started = slots.map((slot) => new Promise<void>((resolve, reject) => (slot.starting = { resolve, reject })));
      for (const slot of slots) spawn(slot);
      watchdog = setInterval(watch, Math.min(1000, hangMs / 2)).unref();
      await Promise.all(started);
    },
    runner: { run, abortAll, stats },
    resources,
    async stop() {
      if (stopped) return;
      abortAll();
      stopped = true;
      clearInterval(watchdog);
      for (const slot of slots) clearTimeout(slot.restartTimer);
      let grace: NodeJS.Timeout | undefined;
      const timeUp = new Promise<void>((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS)));
      await Promise.race([resources.closeAll(), timeUp]);
      clearTimeout(grace);
      await Promise.all(slots.map((slot) => slot.worker?.terminate()));
    },
    stats: {
      workers: slots.length,
      get restarts() {
        return restarts;
      },
      get crashed() {
        return crashed;
      },
    },
    threads: () => slots.flatMap((s) => (s.worker ? [s.worker] : [])),
  };
}
