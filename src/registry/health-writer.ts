/**
 * Group commit for health records. A flip of 2,000 instances at once must not cost 2,000 fsyncs on
 * the event loop: changes are queued (the newest per instance wins), and every `batchMs`, or as soon
 * as `maxBatch` are queued, one batch goes to the store's asynchronous `putHealthBatch`. A failed
 * batch is logged and retried with back-off (entries superseded meanwhile are dropped), so memory
 * and store converge instead of silently diverging. Registrations do not come through here: they
 * are written synchronously, before they are acknowledged.
 */
import type { Logger } from 'pino';
import type { HealthBatchEntry, Store, StoredHealth } from './store.js';

export interface HealthWriterOptions {
  readonly store: Pick<Store, 'putHealthBatch'>;
  readonly logger: Pick<Logger, 'error' | 'info'>;
  /** Longest a change waits before its batch is written. */
  readonly batchMs: number;
  /** A batch is written at once when this many changes are queued. */
  readonly maxBatch: number;
  /** First retry delay after a failed batch; doubles up to 30 s. */
  readonly retryMs?: number;
}

export interface HealthWriterStats {
  /** Changes queued, not yet handed to the store. */
  readonly pending: number;
  readonly batches: number;
  readonly failures: number;
}

export interface HealthWriter {
  put(key: string, health: StoredHealth): void;
  /** Drops a queued change (the instance was deleted or stopped being persistent). */
  forget(key: string): void;
  /** Writes everything queued now; resolves when the store has it (or rejects with its error). */
  flush(): Promise<void>;
  /** Flushes and stops; later puts are ignored. */
  close(): Promise<void>;
  readonly stats: HealthWriterStats;
}

const MAX_RETRY_MS = 30_000;

export function createHealthWriter(opts: HealthWriterOptions): HealthWriter {
  const { store, logger, batchMs, maxBatch } = opts;
  const baseRetryMs = opts.retryMs ?? 100;
  let queue = new Map<string, StoredHealth>();
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let retryMs = 0;
  let closed = false;
  let batches = 0;
  let failures = 0;

  function arm(delayMs: number): void {
    if (timer || writing || queue.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void write().catch(() => {});
    }, delayMs);
  }

  /** Hands the queue to the store; on failure puts back what nobody superseded and retries later. */
  function write(): Promise<void> {
    if (writing) return writing.then(write);
    if (queue.size === 0) return Promise.resolve();
    const batch = queue;
    queue = new Map();
    const entries: HealthBatchEntry[] = [...batch].map(([key, health]) => ({ key, health }));
    writing = store.putHealthBatch(entries).then(
      () => {
        batches++;
        if (retryMs > 0) logger.info({ entries: entries.length }, 'health writes to the store succeed again');
        retryMs = 0;
      },
      (err: unknown) => {
        failures++;
        for (const [key, health] of batch) if (!queue.has(key)) queue.set(key, health);
        retryMs = Math.min(retryMs === 0 ? baseRetryMs : retryMs * 2, MAX_RETRY_MS);
        logger.error({ err, entries: batch.size, retryInMs: retryMs }, 'writing health to the store failed; memory is ahead of the store until a retry succeeds');
        throw err;
      },
    );
    return writing.finally(() => {
      writing = undefined;
      if (!closed) arm(retryMs || batchMs);
    });
  }

  return {
    put(key, health) {
      if (closed) return;
      queue.delete(key); // re-insert: the newest change of a key goes last
      queue.set(key, health);
      if (queue.size >= maxBatch && retryMs === 0 && !writing) {
        clearTimeout(timer);
        timer = undefined;
        void write().catch(() => {});
      } else arm(retryMs || batchMs);
    },
    forget(key) {
      queue.delete(key);
    },
    flush: () => {
      clearTimeout(timer);
      timer = undefined;
      return write();
    },
    async close() {
      clearTimeout(timer);
      timer = undefined;
      try {
        await write();
      } finally {
        closed = true;
        clearTimeout(timer);
        timer = undefined;
      }
    },
    stats: {
      get pending() {
        return queue.size;
      },
      get batches() {
        return batches;
      },
      get failures() {
        return failures;
      },
    },
  };
}
