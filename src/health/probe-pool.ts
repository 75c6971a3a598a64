/**
 * Probe execution on worker threads, behind the ordinary `Runner` interface: the scheduler keeps
 * every decision and all health state on the main thread and calls `run()` as before; the pool
 * sends the probe to the worker that owns its target (a stable hash of `host:port`, so one
 * target's reusable connections live in one worker) and resolves with the worker's result.
 * Probes and results cross in batches, one message per worker per event-loop turn
 * (probe-wire.ts); checkers, options, targets and wake functions cross once per worker and by
 * number afterwards (ref-table.ts).
 *
 * A worker that dies (an uncaught throw, `process.exit` in a plugin, `terminate()`, or ended by
 * the watchdog because a checker blocks its thread) is started again at once (probe-slot.ts).
 * Every probe it had been given is answered `fail` / `worker-crashed` exactly once, never run
 * again: it may already have reached its target, and its deadline may have passed; one `fail`
 * counts towards the fall threshold like a timeout and flips nothing by itself. Later probes of
 * that shard go to the new worker (queued until it has loaded).
 *
 * Run in-process instead (the pool's own runner): a probe of a shard whose first worker is not
 * ready yet (still loading its checkers — `start()` does not wait for that — or failing to), a
 * probe with an abort signal (a one-off caller), a checker type the workers did not load (added by
 * code rather than by `plugins`), and options a worker cannot be sent (a plugin schema whose
 * output holds a function).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { hash32 } from '../cluster/shards.js';
import type { CredentialStore } from '../security/credentials.js';
import type { ProbeResult, Target } from './contract.js';
import { RefKind, type ToWorker } from './probe-wire.js';
import { ProbeSlot, resultOf, type SlotHost } from './probe-slot.js';
import { RefTable } from './ref-table.js';
import { createResourcePool, type ResourcePool } from './resources.js';
import { createRunner, type ProbeRequest, type Runner, type RunnerStats } from './runner.js';

export { MAX_RESTART_DELAY_MS, RESTART_DELAY_MS, restartDelayMs, WORKER_CRASHED } from './probe-slot.js';

/** At stop, a worker closing its connections is terminated after this long. */
export const STOP_GRACE_MS = 2000;

/**
 * A worker that owes answers and has not been heard from for this long (it says it is alive every
 * ALIVE_EVERY_MS) has its thread blocked, by a checker that never yields: it is ended and replaced.
 */
export const WORKER_HANG_MS = 10_000;

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
  /**
   * Start each worker at the first probe of its shard instead of at `start()` (the daemon): a node
   * that probes nothing (checks off, only ephemeral instances) never loads a worker, and a start
   * followed by a registration storm does not share the cores with two threads loading modules.
   */
  readonly lazy?: boolean;
  /**
   * With `lazy`: until this says so, every probe runs on the main thread; from then on (it must stay
   * true) a shard's worker starts at its first probe (`checks.workers: auto`: once the main thread
   * is busy, runtime/busy-gate.ts). By default at once.
   */
  readonly needed?: () => boolean;
}

export interface ProbePoolStats {
  readonly workers: number;
  /** Workers whose thread has loaded its checkers and takes its shard's probes. */
  readonly ready: number;
  /** Workers started again after one died (or could not be created). */
  readonly restarts: number;
  /** Probes answered `worker-crashed`. */
  readonly crashed: number;
}

export interface ProbePool {
  /**
   * Starts the workers (with `lazy`, each at its shard's first probe instead) and returns at once:
   * each takes its shard's probes when it has loaded its checkers, and one that fails to is logged
   * and started again like one that crashed. Throws only when a thread cannot be created at all
   * (lazily: logged, and that shard probes on the main thread).
   */
  start(): void;
  readonly runner: Runner;
  /** Connection pool operations reach every worker's pool (and the in-process one). */
  readonly resources: ResourcePool;
  /** Aborts what runs, closes the workers' connections and ends the threads. */
  stop(): Promise<void>;
  readonly stats: ProbePoolStats;
  /** The live worker threads, one per shard (tests end one to see it replaced). */
  threads(): readonly Worker[];
}

/** Most probe workers `auto` starts: each one handles ~10k+ probes/s and costs its own heap. */
export const AUTO_MAX_WORKERS = 4;

/**
 * The worker count `checks.workers` asks for. `auto`: one per core up to AUTO_MAX_WORKERS, none on
 * one core; the daemon starts them only once the main thread is busy (runtime/busy-gate.ts): on two
 * cores one thread keeps up with 10k probes/s, and at 100k @ 5 s two workers ran 100 % of the due
 * probes where one ran ~55 % (bench/README.md).
 */
export function probeWorkers(setting: number | 'auto', cores: number = availableParallelism()): number {
  if (setting !== 'auto') return setting;
  return cores < 2 ? 0 : Math.min(cores, AUTO_MAX_WORKERS);
}

function defaultScript(): URL {
  const here = new URL('./probe-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  // Running from src/ under the test runner: the worker is plain Node, so it runs the build.
  return new URL('../../dist/src/health/probe-worker.js', import.meta.url);
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
  const local = createRunner({ credentials: opts.credentials });
  const localResources = createResourcePool();
  const refs = new RefTable();
  const wakes = new Map<number, WeakRef<() => void>>();
  const shards = new WeakMap<Target, ProbeSlot>();
  const cloneable = new WeakMap<object, boolean>();
  const hangMs = opts.hangMs ?? WORKER_HANG_MS;
  let nextSeq = 1;
  let flushQueued = false;
  let stopped = false;
  let restarts = 0;
  let crashed = 0;
  let watchdog: NodeJS.Timeout | undefined;

  const host: SlotHost = {
    script: opts.workerScript ?? defaultScript(),
    init: { plugins: opts.plugins, baseDir: opts.baseDir, credentials: opts.credentials.inputs },
    refs,
    logger: opts.logger,
    stopped: () => stopped,
    wake: (id) => wakes.get(id)?.deref()?.(),
    queued() {
      if (flushQueued) return;
      flushQueued = true;
      setImmediate(flush);
    },
    restarted: () => void restarts++,
    crashed: () => void crashed++,
  };
  const slots = Array.from({ length: opts.workers }, () => new ProbeSlot(host));

  function shardOf(target: Target): ProbeSlot {
    let slot = shards.get(target);
    if (slot === undefined) shards.set(target, (slot = slots[hash32(`${target.host}:${target.port}`) % slots.length]!));
    return slot;
  }

  function runsHere(req: ProbeRequest, slot: ProbeSlot): boolean {
    if (!slot.accepts(req.checker.type)) return true;
    let ok = cloneable.get(req.options);
    if (ok === undefined) cloneable.set(req.options, (ok = isCloneable(req.options)));
    return !ok;
  }

  function run(req: ProbeRequest): Promise<ProbeResult> {
    const { checker, wake } = req;
    if (stopped) {
      req.onCheckerSettled?.();
      return Promise.resolve(resultOf(checker.type, 'fail', 'aborted', 'vigil is stopping', undefined, 0, Date.now()));
    }
    if (req.signal !== undefined) return local.run(req);
    // Until the workers are needed, every probe runs here (and looks up no shard).
    if (opts.needed?.() === false) return local.run(req);
    const slot = shardOf(req.target);
    if (!slot.launched) launch(slot);
    if (runsHere(req, slot)) return local.run(req);
    let wakeRef = 0;
    if (wake !== undefined) {
      wakeRef = slot.ref(wake, RefKind.wake, null);
      if (!wakes.has(wakeRef)) wakes.set(wakeRef, new WeakRef(wake));
    }
    const checkerRef = slot.ref(checker, RefKind.checker, checker.type);
    const optionsRef = slot.ref(req.options, RefKind.options, req.options);
    const targetRef = slot.ref(req.target, RefKind.target, req.target);
    return slot.enqueue(checkerRef, optionsRef, targetRef, wakeRef, req.timeoutMs, checker.type, req.onCheckerSettled);
  }

  function flush(): void {
    flushQueued = false;
    const gone = refs.takeGone();
    for (const id of gone) wakes.delete(id);
    for (const slot of slots) slot.flush(gone);
  }

  /** Sends a connection-pool operation to every live worker; resolves with their counts summed. */
  async function everyWorker(make: (seq: number) => ToWorker): Promise<number> {
    const counts = await Promise.all(slots.map((slot) => slot.ask(make, nextSeq++)));
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
    // Answered here and now; each probe stays owed until its worker reports the attempt ended (or dies).
    for (const slot of slots) slot.abort();
  }

  /** Starts a slot's thread; one that cannot be created is logged and its shard probes on this thread. */
  function launch(slot: ProbeSlot): void {
    try {
      slot.start();
    } catch (err) {
      opts.logger?.error({ err }, 'cannot start a probe worker thread; its probes run on the main thread');
    }
  }

  return {
    start() {
      watchdog = setInterval(() => {
        const at = performance.now();
        for (const slot of slots) slot.watch(at, hangMs);
      }, Math.min(1000, hangMs / 2)).unref();
      if (!opts.lazy) for (const slot of slots) slot.start();
    },
    runner: { run, abortAll, stats },
    resources,
    async stop() {
      if (stopped) return;
      abortAll();
      stopped = true;
      clearInterval(watchdog);
      let grace: NodeJS.Timeout | undefined;
      const timeUp = new Promise<void>((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS)));
      await Promise.race([resources.closeAll(), timeUp]);
      clearTimeout(grace);
      await Promise.all(slots.map((slot) => slot.stop()));
    },
    stats: {
      workers: slots.length,
      get ready() {
        return slots.reduce((n, s) => n + (s.ready ? 1 : 0), 0);
      },
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
