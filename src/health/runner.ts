/**
 * The runner owns time and verdicts: it gives a checker its budget, aborts it when the budget is
 * spent, answers by the deadline even when the checker ignores the signal, measures latency and
 * turns a throw into an outcome. Nothing a checker does can make a probe outlive its timeout.
 */
import { performance } from 'node:perf_hooks';
import { classifyError } from './classify.js';
import type { Checker, CheckOutcome, ProbeResult, ResourceCache, Target } from './contract.js';

export interface ProbeRequest {
  readonly checker: Checker;
  readonly target: Target;
  /** Already validated and frozen by the checker registry. */
  readonly options: object;
  readonly timeoutMs: number;
  readonly resources: ResourceCache;
  /** Aborts this probe early (a one-off caller's cancel). The daemon uses `abortAll` instead. */
  readonly signal?: AbortSignal;
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

export function createRunner(): Runner {
  let overdue = 0;
  let late = 0;
  // Cancelling through a Set of per-probe callbacks, not one shared AbortSignal: an EventTarget
  // scans its listeners on every add, which at thousands of concurrent probes dominated the CPU.
  const running = new Set<(reason: unknown) => void>();

  function run(req: ProbeRequest): Promise<ProbeResult> {
    const { checker, timeoutMs } = req;
    const startedAt = Date.now();
    const started = performance.now();
    if (req.signal?.aborted) return Promise.resolve({ ...ABORTED, type: checker.type, latencyMs: 0, startedAt });
    const controller = new AbortController();
    const deadline = started + timeoutMs;

    // One promise, settled once, by whichever comes first: the checker, the deadline or a stop.
    // (Fewer promise layers than a race: this is the probe loop's hottest path.)
    return new Promise<ProbeResult>((resolve) => {
      let answered = false;
      let checkerSettled = false;
      const answer = (outcome: CheckOutcome): void => {
        if (answered) return;
        answered = true;
        if (!checkerSettled) overdue++; // answered at the deadline or a stop; the checker runs on
        clearTimeout(timer);
        running.delete(stop);
        req.signal?.removeEventListener('abort', onSignal);
        const latencyMs = Math.min(performance.now() - started, timeoutMs);
        resolve({ ...outcome, type: checker.type, latencyMs: Math.round(latencyMs * 1000) / 1000, startedAt });
      };
      // Abort first so the checker hears it before anyone hears our answer; the answer still wins
      // over the checker's abort error, which can only reach settle() in a later microtask.
      const stop = (reason: unknown): void => {
        controller.abort(reason);
        answer(ABORTED);
      };
      const onSignal = (): void => stop(req.signal?.reason);
      const timer = setTimeout(() => {
        controller.abort(new DOMException('probe deadline reached', 'TimeoutError'));
        answer({ status: 'fail', reason: 'timeout', detail: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      running.add(stop);
      req.signal?.addEventListener('abort', onSignal, { once: true });

      const settle = (outcome: CheckOutcome): void => {
        checkerSettled = true;
        if (!answered) return answer(outcome);
        overdue--;
        if (performance.now() - deadline > LATE_GRACE_MS) late++;
      };
      let attempt: Promise<unknown>;
      try {
        attempt = Promise.resolve(
          checker.check({ target: req.target, options: req.options, signal: controller.signal, timeoutMs, deadline, resources: req.resources }),
        );
      } catch (err) {
        attempt = Promise.reject(err);
      }
      attempt.then(
        (out) => settle(checkShape(checker.type, out)),
        (err: unknown) => settle(classifyError(err)),
      );
    });
  }

  return {
    run,
    abortAll(reason) {
      for (const stop of [...running]) stop(reason ?? new DOMException('vigil is stopping', 'AbortError'));
    },
    stats: {
      get overdue() {
        return overdue;
      },
      get late() {
        return late;
      },
    },
  };
}
