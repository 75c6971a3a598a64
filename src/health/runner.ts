/**
 * The runner owns time and verdicts: it gives a checker its budget, aborts it when the budget is
 * spent, answers by the deadline even when the checker ignores the signal, measures latency and
 * turns a throw into an outcome. Nothing a checker does can make a probe outlive its timeout.
 */
import { onCancel, ON_CANCEL, type Cancellable } from './cancel.js';
import { classifyError } from './classify.js';
import type { CheckContext, Checker, CheckOutcome, Credential, ProbeResult, ResourceCache, Target } from './contract.js';
import { createDeadlines, type DeadlineEntry, type Deadlines } from './deadlines.js';

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
  readonly deadlines: Deadlines<Flight>;
  readonly clock: () => number;
}

/** The outcome of a probe answered at its deadline, one frozen object per budget. */
const timeouts = new Map<number, CheckOutcome>();
function timedOut(timeoutMs: number): CheckOutcome {
  let outcome = timeouts.get(timeoutMs);
  if (outcome === undefined) {
    outcome = Object.freeze({ status: 'fail', reason: 'timeout', detail: `no answer within ${timeoutMs} ms` } as const);
    if (timeouts.size < 64) timeouts.set(timeoutMs, outcome);
  }
  return outcome;
}

/**
 * One probe in flight, answered once by whichever comes first: the checker, the deadline or a
 * stop. It is also the checker's context (one object per probe instead of a context, a flight
 * and their closures: this is the probe loop's hottest path). Its AbortController exists only if
 * the checker reads `signal`; built-in checkers register a cancel hook instead (cancel.ts).
 */
class Flight implements CheckContext<object>, DeadlineEntry {
  readonly target: Target;
  readonly options: object;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly resources: ResourceCache;
  readonly wake: (() => void) | undefined;
  declare readonly credential?: Credential;
  /** An own, enumerable accessor (a spread of the context keeps it), defined in the constructor. */
  declare readonly signal: AbortSignal;
  readonly #books: Books;
  readonly #type: string;
  readonly #started: number;
  readonly #startedAt: number;
  readonly #resolve: (result: ProbeResult) => void;
  #controller: AbortController | undefined;
  #hook: Cancellable | undefined;
  /** Why the probe was cancelled (deadline or stop); undefined while it was not. */
  #cancelled: unknown;
  #open = true;
  /** Its place in the deadline queues. */
  #ticket = -1;
  #checkerSettled = false;
  /** Set when the caller passed a signal: the listener to remove from it. */
  #external: { readonly signal: AbortSignal; readonly listener: () => void } | undefined;

  /** Shared by every flight: the controller is made on first read, already aborted when the probe was cancelled. */
  static readonly #SIGNAL: PropertyDescriptor = {
    enumerable: true,
    get(this: Flight): AbortSignal {
      if (this.#controller === undefined) {
        this.#controller = new AbortController();
        if (this.#cancelled !== undefined) this.#controller.abort(this.#cancelled);
      }
      return this.#controller.signal;
    },
  };

  constructor(books: Books, req: ProbeRequest, started: number, startedAt: number, credential: Credential | undefined, resolve: (result: ProbeResult) => void) {
    this.target = req.target;
    this.options = req.options;
    this.timeoutMs = req.timeoutMs;
    this.deadline = started + req.timeoutMs;
    this.resources = req.resources;
    this.wake = req.wake;
    if (credential !== undefined) (this as { credential?: Credential }).credential = credential;
    Object.defineProperty(this, 'signal', Flight.#SIGNAL);
    this.#books = books;
    this.#type = req.checker.type;
    this.#started = started;
    this.#startedAt = startedAt;
    this.#resolve = resolve;
  }

  // The methods below are static: the flight is the checker's context, and a plugin has no
  // business calling them on it.

  /** Files `f` in the deadline queues and, when the caller passed a signal, listens to it. */
  static start(f: Flight, external: AbortSignal | undefined): void {
    f.#ticket = f.#books.deadlines.add(f, f.timeoutMs);
    if (external) {
      const listener = (): void => Flight.stop(f, external.reason);
      f.#external = { signal: external, listener };
      external.addEventListener('abort', listener, { once: true });
    }
  }

  [ON_CANCEL](hook: Cancellable): void {
    if (this.#cancelled !== undefined) hook.cancel();
    else if (!this.#open) return;
    else if (this.#hook === undefined) this.#hook = hook;
    else onCancel({ signal: this.signal }, hook); // a second hook: rare, the signal carries it
  }

  /** `spent`: answered because the budget ran out, so the probe took all of it (deadlines.ts may fire up to 1 ms early). */
  static answer(f: Flight, outcome: CheckOutcome, spent = false): void {
    if (!f.#open) return;
    f.#open = false;
    f.#hook = undefined;
    const books = f.#books;
    if (!f.#checkerSettled) books.overdue++; // answered at the deadline or a stop; the checker runs on
    books.deadlines.close(f.timeoutMs, f.#ticket);
    if (f.#external) f.#external.signal.removeEventListener('abort', f.#external.listener);
    const latencyMs = spent ? f.timeoutMs : Math.min(books.clock() - f.#started, f.timeoutMs);
    f.#resolve(resultOf(outcome, f.#type, Math.round(latencyMs * 1000) / 1000, f.#startedAt));
  }

  // The checker hears the cancel (its hook, its signal) before anyone hears our answer; the answer
  // still wins over what the checker makes of it, which can only reach settle in a later microtask.
  static #cancel(f: Flight, reason: unknown, outcome: CheckOutcome, spent = false): void {
    if (!f.#open) return;
    f.#cancelled = reason;
    const hook = f.#hook;
    f.#hook = undefined;
    f.#controller?.abort(reason);
    hook?.cancel();
    Flight.answer(f, outcome, spent);
  }

  static stop(f: Flight, reason: unknown): void {
    Flight.#cancel(f, reason, ABORTED);
  }

  static expire(f: Flight): void {
    Flight.#cancel(f, new DOMException('probe deadline reached', 'TimeoutError'), timedOut(f.timeoutMs), true);
  }

  /** The checker's own outcome: the answer if it came first, otherwise only counted. */
  static settle(f: Flight, outcome: CheckOutcome): void {
    f.#checkerSettled = true;
    if (f.#open) return Flight.answer(f, outcome);
    f.#books.overdue--;
    if (f.#books.clock() - f.deadline > LATE_GRACE_MS) f.#books.late++;
  }
}

function onDeadline(flight: Flight): void {
  Flight.expire(flight);
}

/** Settles `flight` with what the checker's attempt comes to; never rejects. Always a microtask after the attempt settles. */
async function watch(flight: Flight, type: string, attempt: unknown, onSettled: (() => void) | undefined): Promise<void> {
  let outcome: CheckOutcome;
  try {
    outcome = checkShape(type, await attempt);
  } catch (err) {
    outcome = classifyError(err);
  }
  Flight.settle(flight, outcome);
  onSettled?.();
}

/**
 * The `resolve` of the promise being made: a Promise executor that closes over nothing, so that a
 * probe allocates no executor closure. Read right after `new Promise(capture)`, which calls it
 * synchronously.
 */
let captured: ((result: ProbeResult) => void) | undefined;
function capture(resolve: (result: ProbeResult) => void): void {
  captured = resolve;
}

/**
 * The monotonic clock of deadlines and latency: `performance.now()`, read through the global at
 * each call so that a test's fake timers (which replace the global, and drive setTimeout) move
 * both the deadline timer and this clock alike.
 */
const monotonic = (): number => globalThis.performance.now();

/** Named credentials by name, each knowing which hosts may receive it (security/credentials.ts). */
export interface CredentialLookup {
  get(name: string): (Credential & { allows(host: string): boolean }) | undefined;
}

export interface RunnerDeps {
  readonly credentials?: CredentialLookup;
  /** Monotonic milliseconds for deadlines and latency; the timers must run on the same clock. Default `performance.now()`. */
  readonly clock?: () => number;
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
  const clock = deps.clock ?? monotonic;
  // One timer for every probe in flight (deadlines.ts); its queues also hold what abortAll ends.
  const books: Books = { overdue: 0, late: 0, deadlines: createDeadlines<Flight>(onDeadline, clock), clock };

  function run(req: ProbeRequest): Promise<ProbeResult> {
    const { checker, signal: external } = req;
    const startedAt = Date.now();
    const started = clock();
    if (external?.aborted) {
      req.onCheckerSettled?.();
      return Promise.resolve(resultOf(ABORTED, checker.type, 0, startedAt));
    }
    const credential = credentialFor(deps, req.options, req.target.host);
    if (credential !== undefined && 'status' in credential) {
      req.onCheckerSettled?.(); // no attempt was started: nothing can still be running
      return Promise.resolve(resultOf(credential, checker.type, 0, startedAt));
    }
    const answer = new Promise<ProbeResult>(capture);
    const flight = new Flight(books, req, started, startedAt, credential, captured!);
    captured = undefined;
    Flight.start(flight, external);
    let attempt: unknown;
    try {
      attempt = checker.check(flight);
    } catch (err) {
      attempt = Promise.reject(err);
    }
    void watch(flight, checker.type, attempt, req.onCheckerSettled);
    return answer;
  }

  return {
    run,
    abortAll(reason) {
      for (const flight of books.deadlines.open()) Flight.stop(flight, reason ?? new DOMException('vigil is stopping', 'AbortError'));
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
