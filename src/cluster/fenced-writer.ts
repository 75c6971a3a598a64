/**
 * Health publications of one node, written to the store in batches: while one batch is in the
 * database the next ones queue, and each batch is one transaction (mysql-store.ts
 * `putFencedHealthBatch`) instead of one statement per change. A wave of flips used to queue one
 * fenced write per instance behind a pool of a few connections and drain over a second; now it
 * is a handful of round trips per batch.
 *
 * Every write still carries the epoch the node believed it held when it decided, and the store
 * refuses each one whose shard lease moved on: batching changes the cost, not the fencing.
 */
import { VigilError } from '../errors.js';
import type { FencedWrite, MysqlStore } from '../registry/mysql-store.js';

/** Counters of what became of this node's publications (for logs, metrics and tests). */
export interface FencedWriterStats {
  /** Writes the store accepted. */
  written: number;
  /** Writes the store refused because the shard's lease had moved on (stale epoch). */
  refusedStale: number;
  /** Writes older than what the store holds (an operator's decision written meanwhile by any node). */
  superseded: number;
  /** Writes for instances that were deregistered meanwhile. */
  refusedMissing: number;
  /** Writes lost with a failed batch (store down or slow). */
  failed: number;
  /** Transactions run. */
  batches: number;
}

export interface FencedWriter {
  /** Resolves once committed; rejects with STALE_EPOCH, SUPERSEDED, NOT_FOUND or the store's error. */
  write(w: FencedWrite): Promise<void>;
  readonly stats: Readonly<FencedWriterStats>;
}

export interface FencedWriterOptions {
  readonly store: Pick<MysqlStore, 'putFencedHealthBatch'>;
  readonly nodeId: string;
  /** At most this many writes per transaction. */
  readonly maxBatch: number;
  /**
   * Transactions at once (default 1). A batch is several round trips; with more than one in
   * flight a decision waits for a free connection rather than for the whole batch before it.
   * Two batches holding one key are ordered by the health row's lock and its stamp ('superseded').
   */
  readonly maxInFlight?: number;
  /** Called with the writes of a batch that committed, before their promises resolve (broadcast). */
  readonly onCommitted?: (written: readonly FencedWrite[]) => void;
}

interface Pending extends FencedWrite {
  resolve(): void;
  reject(err: unknown): void;
}

export function createFencedWriter(opts: FencedWriterOptions): FencedWriter {
  const { nodeId } = opts;
  const stats: FencedWriterStats = { written: 0, refusedStale: 0, superseded: 0, refusedMissing: 0, failed: 0, batches: 0 };
  let queue: Pending[] = [];
  let active = 0;
  let scheduled = false;
  const maxInFlight = opts.maxInFlight ?? 1;

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, opts.maxBatch);
      queue = queue.slice(batch.length);
      stats.batches++;
      let outcomes;
      try {
        outcomes = await opts.store.putFencedHealthBatch(nodeId, batch);
      } catch (err) {
        stats.failed += batch.length;
        for (const p of batch) p.reject(err);
        continue;
      }
      const written = batch.filter((_, i) => outcomes[i] === 'written');
      stats.written += written.length;
      opts.onCommitted?.(written);
      batch.forEach((p, i) => {
        if (outcomes[i] === 'written') return p.resolve();
        if (outcomes[i] === 'missing') {
          stats.refusedMissing++;
          return p.reject(new VigilError('VIGIL_ERR_NOT_FOUND', `no persistent instance ${p.key}`, 'key'));
        }
        if (outcomes[i] === 'superseded') {
          stats.superseded++;
          // Nothing changed and the next probe decides again, as after a stale epoch, but the lease is still held.
          return p.reject(new VigilError('VIGIL_ERR_CLUSTER_SUPERSEDED', `health write for ${p.key} by ${nodeId}: the store holds a newer record`, 'version'));
        }
        stats.refusedStale++;
        p.reject(new VigilError('VIGIL_ERR_CLUSTER_STALE_EPOCH', `health write for ${p.key} by ${nodeId} at epoch ${p.epoch} refused: the shard's lease has moved on`, 'epoch'));
      });
    }
    active--;
  }

  /** Starts drain loops up to `maxInFlight`; each takes the next batch when its transaction ends. */
  function start(): void {
    scheduled = false;
    while (active < maxInFlight && queue.length > 0) {
      active++;
      void drain();
    }
  }

  return {
    stats,
    write(w) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ ...w, resolve, reject });
        if (scheduled || active >= maxInFlight) return;
        scheduled = true;
        // One macrotask later, so the decisions of one scheduler tick share the first batch.
        setImmediate(start);
      });
    },
  };
}
