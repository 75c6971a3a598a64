/**
 * What this node may do right now, by its own monotonic clock: the shards it holds, each with the
 * epoch its health writes must carry and the local instant its lease must be taken as lapsed.
 *
 * The database decides when a lease expires, but a node cannot ask the database before every probe.
 * So the local deadline is counted from the moment the renewal was *sent* (not answered): the
 * database's expiry was set after that moment, so as long as the two clocks tick at about the same
 * rate the node stops believing in the lease before the database lets anyone else take it.
 * `marginMs` absorbs clock-rate drift and a slow event loop. Epoch fencing in the store catches
 * whatever slips through (a node paused between the check and the write).
 */
import type { Shard } from './shards.js';

export interface HeldLease {
  readonly epoch: number;
  /** Local monotonic ms after which the lease counts as lost. */
  readonly deadline: number;
}

export interface LeaseTable {
  /** The epoch to write under, or undefined when this node must not probe or publish the shard. */
  epochFor(shard: Shard, now: number): number | undefined;
  owns(shard: Shard, now: number): boolean;
  /** Records leases acquired or renewed by a request sent at local time `sentAt`. */
  confirm(leases: ReadonlyArray<{ shard: Shard; epoch: number }>, sentAt: number): void;
  /** Forgets leases released, or found lost (renewal refused). */
  drop(shards: readonly Shard[]): void;
  /** Shards held at `now`, ascending. */
  held(now: number): Shard[];
}

export interface LeaseTableOptions {
  readonly ttlMs: number;
  readonly marginMs: number;
}

export function createLeaseTable(opts: LeaseTableOptions): LeaseTable {
  if (opts.marginMs >= opts.ttlMs) throw new RangeError('marginMs must be shorter than ttlMs');
  const leases = new Map<Shard, HeldLease>();
  const valid = (shard: Shard, now: number): HeldLease | undefined => {
    const l = leases.get(shard);
    return l !== undefined && now < l.deadline ? l : undefined;
  };
  return {
    epochFor: (shard, now) => valid(shard, now)?.epoch,
    owns: (shard, now) => valid(shard, now) !== undefined,
    confirm(list, sentAt) {
      const deadline = sentAt + opts.ttlMs - opts.marginMs;
      for (const { shard, epoch } of list) leases.set(shard, Object.freeze({ epoch, deadline }));
    },
    drop(shards) {
      for (const s of shards) leases.delete(s);
    },
    held: (now) => [...leases.keys()].filter((s) => valid(s, now) !== undefined).sort((a, b) => a - b),
  };
}
