/**
 * One shard of the probe pool (probe-pool.ts): its worker thread and everything bound to that
 * thread's life — the definitions it has been sent, the probes queued for it, the probes it owes
 * an answer. When the thread ends, every probe it owed is answered `worker-crashed` exactly once
 * and a new thread takes the shard over.
 *
 * A slot takes probes once its first thread has loaded its checkers; until then the pool runs the
 * shard's probes on the main thread, so nothing waits for a thread to start, and one that never
 * gets ready costs its shard the hop to a worker, not its probes. A replacement after a crash gets
 * the shard's probes at once (queued until it has loaded): a checker that ended or blocked a worker
 * must not get the main thread next.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { VigilError } from '../errors.js';
import type { Fact, ProbeResult } from './contract.js';
import { Handles } from './handles.js';
import { NO_DETAIL, RESULT_STRIDE, SETTLED, VERDICTS, type Definition, type FromWorker, type ResultBatch, type ToWorker, type WorkerInit } from './probe-wire.js';
import type { RefTable } from './ref-table.js';

/**
 * The main thread's flags a worker accepts: `--import` preloads and the like go along; the entry's
 * module type (`--input-type`, for `-e`) does not, nor do the flags Node refuses in a worker (V8
 * and process-wide ones: `--expose-gc`, `--max-old-space-size=…`), which it names in its error.
 */
let workerExecArgv: string[] | undefined;

/**
 * A probe worker's young generation, in MB. A worker's garbage is short-lived probe state; V8's
 * default (up to 3 × 16 MB semi-spaces) grew each worker's RSS by ~50 MB for nothing: with 8, two
 * workers at 10k instances took 281–298 MB instead of 355–402 MB, CPU per probe the same within the
 * noise (bench/README.md).
 */
const WORKER_YOUNG_GENERATION_MB = 8;

function spawnWorker(script: string | URL, workerData: unknown): Worker {
  let execArgv: string[] = workerExecArgv ?? process.execArgv.filter((a) => !a.startsWith('--input-type'));
  for (;;) {
    try {
      const worker = new Worker(script, { workerData, execArgv, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
      workerExecArgv = execArgv;
      return worker;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
      const refused = new Set(((err as Error).message.split(': ')[1] ?? '').split(', '));
      const kept: string[] = execArgv.filter((a) => !refused.has(a));
      if (kept.length === execArgv.length) throw err;
      execArgv = kept;
    }
  }
}

/** A worker that died before it was ready is started again after this long, not in a tight loop. */
export const RESTART_DELAY_MS = 1000;
/** Each further start that fails in a row doubles the delay, up to this (a plugin that cannot load in a worker). */
export const MAX_RESTART_DELAY_MS = 60_000;

/** The wait before the next start after `failed` starts in a row ended before the worker was ready. */
export function restartDelayMs(failed: number): number {
  return Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** Math.max(0, failed - 1));
}

export const WORKER_CRASHED = 'worker-crashed';

/** What a slot needs from its pool. */
export interface SlotHost {
  readonly script: URL;
  readonly init: WorkerInit;
  readonly refs: RefTable;
  readonly logger: Logger | undefined;
  stopped(): boolean;
  wake(id: number): void;
  /** The slot has probes queued: flush on the next turn. */
  queued(): void;
  /** Counts: a worker replaced, a probe answered `worker-crashed`. */
  restarted(): void;
  crashed(): void;
}

interface Pending {
  readonly resolve: (result: ProbeResult) => void;
  readonly type: string;
  readonly onSettled: (() => void) | undefined;
  answered: boolean;
}

export function resultOf(type: string, status: ProbeResult['status'], reason: string, detail: string | undefined, facts: Readonly<Record<string, Fact>> | undefined, latencyMs: number, startedAt: number): ProbeResult {
  if (detail === undefined) return facts === undefined ? { status, reason, type, latencyMs, startedAt } : { status, reason, facts, type, latencyMs, startedAt };
  return facts === undefined ? { status, reason, detail, type, latencyMs, startedAt } : { status, reason, detail, facts, type, latencyMs, startedAt };
}

export class ProbeSlot {
  readonly #host: SlotHost;
  #worker: Worker | undefined;
  #ready = false;
  #launched = false;
  /** The checker types the first ready thread loaded (its replacements load the same). */
  #types: ReadonlySet<string> = new Set();
  /** Objects whose definitions this worker has (or has queued). */
  #sent = new WeakSet<object>();
  #defs: Definition[] = [];
  #probes: number[] = [];
  /** The probes this slot's worker owes, by the number they crossed as (a handle: see handles.ts). */
  #pending = new Handles<Pending>();
  readonly #ops = new Map<number, (count: number) => void>();
  #restartTimer: NodeJS.Timeout | undefined;
  /** Starts in a row that ended (or failed) before the worker was ready; 0 once one is ready. */
  #failedStarts = 0;
  /** performance.now() of the worker's last message. */
  #heard = 0;
  /** Set when the watchdog ends the worker: the detail its probes are answered with. */
  #hung: string | undefined;
  overdue = 0;
  late = 0;
  resources = 0;

  constructor(host: SlotHost) {
    this.#host = host;
  }

  get worker(): Worker | undefined {
    return this.#worker;
  }

  /** Whether the thread has loaded its checkers (until then the pool runs the shard's probes). */
  get ready(): boolean {
    return this.#ready;
  }

  /** Whether `start` was called (the thread may since have ended and been replaced). */
  get launched(): boolean {
    return this.#launched;
  }

  /** Starts the thread and returns at once; it takes probes when it reports ready. */
  start(): void {
    this.#launched = true;
    this.#spawn();
  }

  /** Whether a thread of this slot has been ready with checker `type` (from then on the shard's probes go to the slot). */
  accepts(type: string): boolean {
    return this.#types.has(type);
  }

  /** The number `obj` crosses as, queueing its definition when this worker does not have it yet. */
  ref(obj: object, kind: Definition[1], value: unknown): number {
    const id = this.#host.refs.id(obj);
    if (!this.#sent.has(obj)) {
      this.#sent.add(obj);
      this.#defs.push([id, kind, value]);
    }
    return id;
  }

  /** Queues one probe (its PROBE_STRIDE numbers, from `ref`) and resolves with its answer. */
  enqueue(checker: number, options: number, target: number, wake: number, timeoutMs: number, type: string, onSettled: (() => void) | undefined): Promise<ProbeResult> {
    return new Promise((resolve) => {
      // Its number is free again only once the worker has both answered it and seen its attempt end.
      const id = this.#pending.add({ resolve, type, onSettled, answered: false });
      this.#probes.push(id, checker, options, target, wake, timeoutMs);
      this.#host.queued();
    });
  }

  /** Sends the queued probes (and the references the pool dropped) in one message. */
  flush(gone: readonly number[]): void {
    // A slot between workers keeps its queue for the next one.
    if (!this.#worker || (this.#probes.length === 0 && gone.length === 0)) return;
    const probes = new Float64Array(this.#probes);
    this.#post({ kind: 'probes', defs: this.#defs, forget: gone, probes }, [probes.buffer]);
    this.#probes = [];
    this.#defs = [];
  }

  /** Sends a connection-pool operation; resolves with the worker's count (0 without a ready worker: it has run nothing). */
  ask(make: (seq: number) => ToWorker, seq: number): Promise<number> {
    if (!this.#worker || !this.#ready) return Promise.resolve(0);
    return new Promise<number>((resolve) => {
      this.#ops.set(seq, resolve);
      this.#post(make(seq));
    });
  }

  /** Answers every probe not answered yet `aborted` now; the worker aborts them too. */
  abort(): void {
    const at = Date.now();
    for (const p of this.#pending.values()) {
      if (p.answered) continue;
      p.answered = true;
      p.resolve(resultOf(p.type, 'fail', 'aborted', 'probe cancelled', undefined, 0, at));
    }
    this.#post({ kind: 'abort' });
  }

  /** Ends the worker if it owes answers and has been silent for `hangMs`: a checker blocks its thread. */
  watch(at: number, hangMs: number): void {
    const silentMs = Math.round(at - this.#heard);
    if (!this.#worker || !this.#ready || this.#pending.size === 0 || silentMs < hangMs) return;
    this.#hung = `the probe worker was silent for ${silentMs} ms (a checker blocks its thread) and was ended`;
    this.#host.logger?.error({ silentMs }, 'probe worker hangs; ending it');
    void this.#worker.terminate();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#restartTimer);
    await this.#worker?.terminate();
  }

  #post(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    this.#worker?.postMessage(msg, transfer);
  }

  #spawn(): void {
    this.#restartTimer = undefined;
    const worker = spawnWorker(this.#host.script, this.#host.init);
    this.#worker = worker;
    this.#heard = performance.now();
    worker.on('message', (msg: FromWorker) => this.#worker === worker && this.#onMessage(msg));
    worker.on('error', (err) => this.#host.logger?.error({ err }, 'probe worker threw'));
    worker.on('exit', (code) => this.#worker === worker && this.#onExit(code));
    // Queued probes of a shard whose worker died wait for this one.
    if (this.#probes.length > 0) this.#host.queued();
  }

  #onMessage(msg: FromWorker): void {
    this.#heard = performance.now();
    if (msg.kind === 'results') this.#onResults(msg);
    else if (msg.kind === 'resources-done') {
      this.#ops.get(msg.seq)?.(msg.count);
      this.#ops.delete(msg.seq);
    } else if (msg.kind === 'ready') {
      this.#types = new Set(msg.types);
      this.#ready = true;
      this.#failedStarts = 0;
    } else if (msg.kind === 'failed') {
      // The main thread loaded the same plugins, so this is one that loads there but not in a worker thread.
      const err = new VigilError('VIGIL_ERR_PLUGIN_LOAD', `probe worker: ${msg.message}`, 'plugins');
      this.#host.logger?.error({ err }, 'probe worker could not load its checkers; its shard probes on the main thread');
    }
  }

  #onResults(b: ResultBatch): void {
    this.overdue = b.overdue;
    this.late = b.late;
    this.resources = b.resources;
    const r = b.results;
    let f = 0;
    for (let i = 0, n = 0; i < r.length; i += RESULT_STRIDE, n++) {
      const id = r[i]!;
      const flags = r[i + 1]!;
      const facts = b.facts[f]?.[0] === n ? b.facts[f++]![1] : undefined;
      const p = this.#pending.get(id);
      if (!p) continue;
      if (!p.answered) {
        p.answered = true;
        const d = b.details[n]!;
        p.resolve(resultOf(p.type, VERDICTS[flags & 3]!, b.strings[r[i + 2]!]!, d === NO_DETAIL ? undefined : b.strings[d], facts, r[i + 3]!, r[i + 4]!));
      }
      if (flags & SETTLED) this.#settled(id, p);
    }
    for (const id of b.settled) {
      const p = this.#pending.get(id);
      if (p) this.#settled(id, p);
    }
    for (const id of b.wakes) this.#host.wake(id);
  }

  #settled(id: number, p: Pending): void {
    this.#pending.delete(id);
    p.onSettled?.();
  }

  #onExit(code: number): void {
    const wasReady = this.#ready;
    this.#worker = undefined;
    this.#ready = false;
    this.#orphan(this.#hung ?? `the probe worker thread ended (exit code ${code}) before answering`);
    this.#hung = undefined;
    if (this.#host.stopped()) return;
    this.#host.restarted();
    if (wasReady) {
      this.#host.logger?.warn({ code, wasReady }, 'probe worker ended; starting a new one');
      this.#trySpawn();
    } else {
      const retryInMs = restartDelayMs(++this.#failedStarts);
      this.#host.logger?.warn({ code, wasReady, retryInMs }, 'probe worker ended; starting a new one');
      this.#respawn(retryInMs);
    }
  }

  /** Replaces the thread; one that cannot even be created is counted and tried again after the delay. */
  #trySpawn(): void {
    try {
      this.#spawn();
    } catch (err) {
      const retryInMs = restartDelayMs(++this.#failedStarts);
      this.#host.logger?.error({ err, retryInMs }, 'probe worker could not be created; trying again');
      this.#host.restarted();
      this.#respawn(retryInMs);
    }
  }

  /**
   * A thread that ended before it was ready is replaced after a delay, not in a tight loop, and one
   * that keeps failing (a plugin that cannot load off the main thread) ever less often: its shard
   * probes on the main thread meanwhile.
   */
  #respawn(delayMs: number): void {
    this.#restartTimer = setTimeout(() => !this.#host.stopped() && this.#trySpawn(), delayMs).unref();
  }

  /** Answers everything the gone worker owed, once, and forgets what it had been sent. */
  #orphan(detail: string): void {
    const pending = this.#pending;
    this.#pending = new Handles();
    this.#probes = [];
    this.#defs = [];
    this.#sent = new WeakSet();
    this.overdue = this.late = this.resources = 0;
    for (const done of this.#ops.values()) done(0);
    this.#ops.clear();
    const at = Date.now();
    for (const p of pending.values()) {
      if (!p.answered) {
        this.#host.crashed();
        p.resolve(resultOf(p.type, 'fail', WORKER_CRASHED, detail, undefined, 0, at));
      }
      p.onSettled?.();
    }
  }
}
