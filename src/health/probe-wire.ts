/**
 * The messages between the probe pool (probe-pool.ts, main thread) and its workers
 * (probe-worker.ts). Both directions are batches: one message per worker per event-loop turn.
 * A probe crosses as six numbers in one Float64Array; what it refers to (its checker type,
 * options, target and wake function) crosses once per worker as a numbered definition and by
 * number afterwards. A result crosses as five numbers, its reason and detail as indexes into the
 * batch's own string table.
 */
import type { CredentialInput } from '../security/credentials.js';
import type { Fact, Verdict } from './contract.js';

/** What a reference number stands for, in a definition `[id, kind, value]`. */
export const RefKind = { checker: 0, options: 1, target: 2, wake: 3 } as const;
export type RefKindValue = (typeof RefKind)[keyof typeof RefKind];

export type Definition = readonly [id: number, kind: RefKindValue, value: unknown];

/** Numbers per probe in `ProbeBatch.probes`: id, checker ref, options ref, target ref, wake ref (0: none), timeoutMs. */
export const PROBE_STRIDE = 6;
/** Numbers per result in `ResultBatch.results`: id, flags, reason index, latencyMs, startedAt. */
export const RESULT_STRIDE = 5;
/** Detail index meaning "no detail". */
export const NO_DETAIL = -1;

export const VERDICTS: readonly Verdict[] = ['ok', 'fail', 'fail-now'];
/** Result flag: the checker's attempt had ended when the result was sent (else a `settled` entry follows later). */
export const SETTLED = 4;

export interface WorkerInit {
  readonly plugins: readonly string[];
  readonly baseDir: string | undefined;
  readonly credentials: Readonly<Record<string, CredentialInput>>;
}

/** Main → worker. */
export type ToWorker =
  | {
      readonly kind: 'probes';
      readonly defs: readonly Definition[];
      /** References no longer used by the main thread. */
      readonly forget: readonly number[];
      readonly probes: Float64Array;
    }
  | { readonly kind: 'abort' }
  | { readonly kind: 'resources'; readonly seq: number; readonly op: 'release'; readonly host: string; readonly port: number }
  | { readonly kind: 'resources'; readonly seq: number; readonly op: 'sweep'; readonly idleMs: number }
  | { readonly kind: 'resources'; readonly seq: number; readonly op: 'close' };

export interface ResultBatch {
  readonly kind: 'results';
  readonly results: Float64Array;
  /** Reasons and details of this batch, each string once. */
  readonly strings: readonly string[];
  /** Detail string index per result (NO_DETAIL: none), parallel to `results`. */
  readonly details: Int32Array;
  /** `[result index, facts]` pairs, only for results that have facts. */
  readonly facts: ReadonlyArray<readonly [number, Readonly<Record<string, Fact>>]>;
  /** Probes answered earlier whose checker attempt has ended since. */
  readonly settled: readonly number[];
  /** Wake references a checker called since the last batch. */
  readonly wakes: readonly number[];
  readonly overdue: number;
  readonly late: number;
  readonly resources: number;
}

/** A worker says it is alive this often, so that one whose thread a checker blocks can be told apart. */
export const ALIVE_EVERY_MS = 500;

/** Worker → main. */
export type FromWorker =
  | { readonly kind: 'ready'; readonly types: readonly string[] }
  | { readonly kind: 'alive' }
  | { readonly kind: 'failed'; readonly message: string }
  | ResultBatch
  | { readonly kind: 'resources-done'; readonly seq: number; readonly count: number };
