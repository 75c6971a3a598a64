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
  /** Aborts the probe early (daemon stopping, instance removed). */
  readonly signal?: AbortSignal;
}

export interface RunnerStats {
  /** Probes answered at their deadline whose checker has not settled yet. */
  readonly overdue: number;
  /** Probes whose checker settled only after its deadline, since start. */
  readonly late: number;
}

export interface Runner {
  run(request: ProbeRequest): Promise<ProbeResult>;
  readonly stats: RunnerStats;
}

const VERDICTS = new Set(['ok', 'fail', 'fail-now']);

function checkShape(type: string, out: unknown): CheckOutcome {
  const o = out as Partial<CheckOutcome> | undefined;
  if (o && VERDICTS.has(o.status as string) && typeof o.reason === 'string' && o.reason !== '') return o as CheckOutcome;
  return { status: 'fail', reason: 'checker-bug', detail: `checker ${type} returned no valid outcome` };
}

export function createRunner(): Runner {
  let overdue = 0;
  let late = 0;

  async function run(req: ProbeRequest): Promise<ProbeResult> {
    const { checker, timeoutMs } = req;
    const startedAt = Date.now();
    const started = performance.now();
    const controller = new AbortController();
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;

    const attempt = (async () => checker.check({
      target: req.target,
      options: req.options,
      signal: controller.signal,
      timeoutMs,
      deadline: started + timeoutMs,
      resources: req.resources,
    }))().then((out) => checkShape(checker.type, out), classifyError);

    const cutoff = new Promise<CheckOutcome>((resolve) => {
      // Resolve before aborting so the deadline answer wins over the checker's abort error.
      timer = setTimeout(() => {
        resolve({ status: 'fail', reason: 'timeout', detail: `no answer within ${timeoutMs} ms` });
        controller.abort(new DOMException('probe deadline reached', 'TimeoutError'));
      }, timeoutMs);
      if (req.signal) {
        onStop = () => {
          resolve({ status: 'fail', reason: 'aborted', detail: 'probe cancelled' });
          controller.abort(req.signal?.reason);
        };
        if (req.signal.aborted) onStop();
        else req.signal.addEventListener('abort', onStop, { once: true });
      }
    });

    const outcome = await Promise.race([attempt.then((o) => ((settled = true), o)), cutoff]);
    clearTimeout(timer);
    if (onStop) req.signal?.removeEventListener('abort', onStop);
    if (!settled) {
      overdue++;
      void attempt.finally(() => {
        overdue--;
        late++;
      });
    }
    const latencyMs = Math.min(performance.now() - started, timeoutMs);
    return { ...outcome, type: checker.type, latencyMs: Math.round(latencyMs * 1000) / 1000, startedAt };
  }

  return {
    run,
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
