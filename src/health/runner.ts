/**
 * The runner owns time and verdicts: it gives a checker its budget, aborts it when the budget is
 * spent, answers by the deadline even when the checker ignores the signal, measures latency and
 * turns a throw into an outcome. Nothing a checker does can make a probe outlive its timeout.
 */
import { performance } from 'node:perf_hooks';
import { classifyError } from './classify.js';
import type { Checker, CheckOutcome, Credential, ProbeResult, ResourceCache, Target } from './contract.js';

export interface ProbeRequest {
  readonly checker: Checker;
  readonly target: Target;
  /** Already validated and frozen by the checker registry. */
  readonly options: object;
  readonly timeoutMs: number;
  readonly resources: ResourceCache;
  /** Aborts this probe early (a one-off caller's cancel). The daemon uses `abortAll` instead. */
  readonly signal?: AbortSignal;
  /** Passed to the checker as `ctx.wake`: asks the scheduler to probe this target again soon. */
  readonly wake?: (() => void) | undefined;
  /**
   * Called when the checker's own attempt has ended, which may be after the answer (a checker that
   * ignores its signal): the scheduler starts no second attempt on a target before this.
   */
  readonly onCheckerSettled?: () => void;
}

export interface RunnerStats {
  /** Probes answered at their deadline whose checker has not settled yet. */
  readonly overdue: number;
  /** Checkers that settled more than LATE_GRACE_MS after their deadline (they ignore the signal). */
  readonly late: number;
}

export interface Runner {
  run(request: ProbeRequest): Promise<ProbeResult>;
  /** Ends every running probe at once with reason `aborted` (daemon stopping). */
  abortAll(reason?: unknown): void;
  readonly stats: RunnerStats;
}

/** A checker that settles within this long after its deadline is honouring the signal. */
export const LATE_GRACE_MS = 50;

const ABORTED: CheckOutcome = Object.freeze({ status: 'fail', reason: 'aborted', detail: 'probe cancelled' });

const VERDICTS = new Set(['ok', 'fail', 'fail-now']);

function checkShape(type: string, out: unknown): CheckOutcome {
  const o = out as Partial<CheckOutcome> | undefined;
  if (o && VERDICTS.has(o.status as string) && typeof o.reason === 'string' && o.reason !== '') return o as CheckOutcome;
  return { status: 'fail', reason: 'checker-bug', detail: `checker ${type} returned no valid outcome` };
}

/** The outcome plus what the runner measured, field by field (a spread was a hot spot); absent options stay absent. */
function resultOf(outcome: CheckOutcome, type: string, latencyMs: number, startedAt: number): ProbeResult {
  const { status, reason, detail, facts } = outcome;
  if (detail === undefined) {
    return facts === undefined ? { status, reason, type, latencyMs, startedAt } : { status, reason, facts, type, latencyMs, startedAt };
  }
  return facts === undefined
    ? { status, reason, detail, type, latencyMs, startedAt }
    : { status, reason, detail, facts, type, latencyMs, startedAt };
}

/** A runner's counters and the probes it has in flight. */
interface Books {
  overdue: number;
  late: number;
  readonly running: Set<Flight>;
}

/**
 * One probe in flight, answered once by whichever comes first: the checker, the deadline or a
 * stop. Its fields and methods stand in for the half-dozen closures a probe would otherwise
 * allocate: this is the probe loop's hottest path.
 */
class Flight {
  readonly #books: Books;
  readonly #type: string;
  readonly #timeoutMs: number;
  readonly #started: number;
  readonly #startedAt: number;
  readonly #controller: AbortController;
  readonly #resolve: (result: ProbeResult) => void;
  readonly #timer: NodeJS.Timeout;
  #answered = false;
  #checkerSettled = false;
  /** Set when the caller passed a signal: the listener to remove from it. */
  external: { readonly signal: AbortSignal; readonly listener: () => void } | undefined;

  constructor(books: Books, type: string, timeoutMs: number, started: number, startedAt: number, controller: AbortController, resolve: (result: ProbeResult) => void) {
    this.#books = books;
    this.#type = type;
    this.#timeoutMs = timeoutMs;
    this.#started = started;
    this.#startedAt = startedAt;
    this.#controller = controller;
    this.#resolve = resolve;
    this.#timer = setTimeout(onDeadline, timeoutMs, this);
  }

  answer(outcome: CheckOutcome): void {
    if (this.#answered) return;
    this.#answered = true;
    if (!this.#checkerSettled) this.#books.overdue++; // answered at the deadline or a stop; the checker runs on
    clearTimeout(this.#timer);
    this.#books.running.delete(this);
    if (this.external) this.external.signal.removeEventListener('abort', this.external.listener);
    const latencyMs = Math.min(performance.now() - this.#started, this.#timeoutMs);
    this.#resolve(resultOf(outcome, this.#type, Math.round(latencyMs * 1000) / 1000, this.#startedAt));
  }

  // Abort first so the checker hears it before anyone hears our answer; the answer still wins
  // over the checker's abort error, which can only reach settle() in a later microtask.
  stop(reason: unknown): void {
    this.#controller.abort(reason);
    this.answer(ABORTED);
  }

  expire(): void {
    this.#controller.abort(new DOMException('probe deadline reached', 'TimeoutError'));
    this.answer({ status: 'fail', reason: 'timeout', detail: `no answer within ${this.#timeoutMs} ms` });
  }

  /** The checker's own outcome: the answer if it came first, otherwise only counted. */
  settle(outcome: CheckOutcome): void {
    this.#checkerSettled = true;
    if (!this.#answered) return this.answer(outcome);
    this.#books.overdue--;
    if (performance.now() - (this.#started + this.#timeoutMs) > LATE_GRACE_MS) this.#books.late++;
  }
}

function onDeadline(flight: Flight): void {
  flight.expire();
}

/** Settles `flight` with what the checker's attempt comes to; never rejects. Always a microtask after the attempt settles. */
async function watch(flight: Flight, type: string, attempt: unknown, onSettled: (() => void) | undefined): Promise<void> {
  let outcome: CheckOutcome;
  try {
    outcome = checkShape(type, await attempt);
  } catch (err) {
    outcome = classifyError(err);
  }
  flight.settle(outcome);
  onSettled?.();
}

/** Named credentials by name, each knowing which hosts may receive it (security/credentials.ts). */
export interface CredentialLookup {
  get(name: string): (Credential & { allows(host: string): boolean }) | undefined;
}

export interface RunnerDeps {
  readonly credentials?: CredentialLookup;
}

/**
 * The credential an options object names, when the target may receive it; else the outcome that
 * ends the probe without connecting. Undefined and no outcome when no credential is named.
 */
function credentialFor(deps: RunnerDeps, options: object, host: string): Credential | CheckOutcome | undefined {
  const name = (options as { credential?: unknown }).credential;
  if (typeof name !== 'string') return undefined;
  const c = deps.credentials?.get(name);
  if (!c) return { status: 'fail-now', reason: 'credential', detail: `no credential "${name}" is configured` };
  if (!c.allows(host)) return { status: 'fail-now', reason: 'credential-host', detail: `credential "${name}" may not be sent to ${host} (not in its hosts)` };
  return c;
}

export function createRunner(deps: RunnerDeps = {}): Runner {
  // Cancelling through a Set of probes, not one shared AbortSignal: an EventTarget scans its
  // listeners on every add, which at thousands of concurrent probes dominated the CPU.
  const books: Books = { overdue: 0, late: 0, running: new Set() };

  function run(req: ProbeRequest): Promise<ProbeResult> {
    const { checker, timeoutMs, signal: external } = req;
    const startedAt = Date.now();
    const started = performance.now();
    if (external?.aborted) {
      req.onCheckerSettled?.();
      return Promise.resolve(resultOf(ABORTED, checker.type, 0, startedAt));
    }
    const credential = credentialFor(deps, req.options, req.target.host);
    if (credential !== undefined && 'status' in credential) {
      req.onCheckerSettled?.(); // no attempt was started: nothing can still be running
      return Promise.resolve(resultOf(credential, checker.type, 0, startedAt));
    }
    const controller = new AbortController();
    const deadline = started + timeoutMs;

    return new Promise<ProbeResult>((resolve) => {
      const flight = new Flight(books, checker.type, timeoutMs, started, startedAt, controller, resolve);
      books.running.add(flight);
      if (external) {
        const listener = (): void => flight.stop(external.reason);
        flight.external = { signal: external, listener };
        external.addEventListener('abort', listener, { once: true });
      }
      let attempt: unknown;
      try {
        const ctx = { target: req.target, options: req.options, signal: controller.signal, timeoutMs, deadline, resources: req.resources, wake: req.wake };
        attempt = checker.check(credential === undefined ? ctx : { ...ctx, credential });
      } catch (err) {
        attempt = Promise.reject(err);
      }
      void watch(flight, checker.type, attempt, req.onCheckerSettled);
    });
  }

  return {
    run,
    abortAll(reason) {
      for (const flight of [...books.running]) flight.stop(reason ?? new DOMException('vigil is stopping', 'AbortError'));
    },
    stats: {
      get overdue() {
        return books.overdue;
      },
      get late() {
        return books.late;
      },
    },
  };
}
