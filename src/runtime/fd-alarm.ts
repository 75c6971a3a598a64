/**
 * Descriptor exhaustion (EMFILE, ENFILE) comes in bursts: thousands of failed probes or accepts in
 * a second. One error line per burst, with the count, says what happened without flooding the log.
 */
import type { Logger } from 'pino';

/** True for an error whose code says the process or the system ran out of descriptors. */
export function isFdExhaustion(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

export interface FdAlarm {
  /** Counts one exhaustion seen at `where` (e.g. `probe`, `accept`). */
  record(where: string): void;
  /** Logs a burst still open and stops the timer. */
  close(): void;
}

export interface FdAlarmDeps {
  readonly logger: Pick<Logger, 'error'>;
  /** A burst ends after this long; its count is logged then. */
  readonly windowMs?: number;
}

export function createFdAlarm(deps: FdAlarmDeps): FdAlarm {
  const windowMs = deps.windowMs ?? 5000;
  let counts: Map<string, number> | undefined;
  let timer: NodeJS.Timeout | undefined;

  function flush(): void {
    timer = undefined;
    if (!counts) return;
    const by = Object.fromEntries(counts);
    const count = [...counts.values()].reduce((a, b) => a + b, 0);
    counts = undefined;
    deps.logger.error({ count, by }, `out of file descriptors (EMFILE/ENFILE) ${count} times; raise the descriptor limit (ulimit -n) or lower server.maxConnections`);
  }

  return {
    record(where) {
      if (!counts) {
        counts = new Map();
        timer = setTimeout(flush, windowMs);
        timer.unref();
      }
      counts.set(where, (counts.get(where) ?? 0) + 1);
    },
    close() {
      clearTimeout(timer);
      flush();
    },
  };
}
