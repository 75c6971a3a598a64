/**
 * One node's next step on the shard leases, decided from what it just read from the database:
 * the live members, every lease row, and the database's own time. Pure, so every rule below is
 * tested with literal rows; the I/O (leases.ts) only carries the plan out, each step guarded in SQL
 * by the same conditions, so a plan made on a stale read fails instead of doing harm.
 *
 * - Renew what I hold and should hold.
 * - Release what I hold but another live member should hold (a join hands shards over at once,
 *   instead of waiting for a lease to run out).
 * - Acquire what I should hold when it is free: never owned, released, or expired by DB time.
 * - Leave alone what another node holds unexpired, even if it should be mine: it will release it,
 *   or its lease runs out (it died or is paused), and only then is it safe to take.
 * - When I am not a live member myself (my heartbeat is late), plan nothing: the others already
 *   count me out and will take my shards once my leases expire, so renewing would fight them.
 */
import { assignShards } from './rendezvous.js';
import type { Shard } from './shards.js';

export interface LeaseRow {
  readonly shard: Shard;
  /** null when never owned or released. */
  readonly owner: string | null;
  /** Bumped by every acquisition; health writes carry it (fencing). */
  readonly epoch: number;
  /** Database time (ms) when the lease lapses. */
  readonly expiresAt: number;
}

export interface LeasePlanInput {
  readonly self: string;
  /** Ids of the members the database counts alive (membership.ts). */
  readonly liveMembers: readonly string[];
  readonly leases: readonly LeaseRow[];
  /** Database time (ms) of the read. */
  readonly now: number;
  readonly shards: number;
}

export interface LeasePlan {
  readonly acquire: readonly Shard[];
  readonly renew: ReadonlyArray<{ shard: Shard; epoch: number }>;
  readonly release: ReadonlyArray<{ shard: Shard; epoch: number }>;
}

export function isLeaseHeld(lease: LeaseRow, now: number): boolean {
  return lease.owner !== null && lease.expiresAt > now;
}

export function planLeases(input: LeasePlanInput): LeasePlan {
  const acquire: Shard[] = [];
  const renew: Array<{ shard: Shard; epoch: number }> = [];
  const release: Array<{ shard: Shard; epoch: number }> = [];
  if (!input.liveMembers.includes(input.self)) return { acquire, renew, release };
  const preferred = assignShards(input.liveMembers, input.shards);
  const byShard = new Map(input.leases.map((l) => [l.shard, l]));
  for (let shard = 0; shard < input.shards; shard++) {
    const lease = byShard.get(shard);
    const mine = preferred[shard] === input.self;
    const held = lease !== undefined && isLeaseHeld(lease, input.now);
    if (held && lease.owner === input.self) {
      (mine ? renew : release).push({ shard, epoch: lease.epoch });
    } else if (!held && mine) {
      acquire.push(shard);
    }
  }
  return { acquire, renew, release };
}
