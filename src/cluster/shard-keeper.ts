/**
 * One round of a node's cluster duty, run every `cluster.leaseRenewMs`: heartbeat, read members
 * and leases (database time), plan (lease-plan.ts), then carry the plan out and update the local
 * lease table that the scheduler asks "do I own this key now?".
 *
 * Order matters for safety:
 * - the local time is taken *before* anything is sent, so the local deadline of every lease
 *   confirmed in this round is earlier than the database's expiry of it;
 * - a shard to hand over is dropped from the local table *before* its release is sent, so this node
 *   has stopped probing and publishing it before another node can take it;
 * - a renewal the database refused drops the shard at once; a round that fails altogether confirms
 *   nothing, so every lease lapses locally at its deadline without any further action.
 */
import { createLeaseTable, type LeaseTable } from './lease-table.js';
import { planLeases, type LeasePlan, type LeaseRow } from './lease-plan.js';
import type { LeaseStore } from './leases.js';
import { liveIds, refusedMembers, type Member, type MemberView, type Membership } from './membership.js';
import { SHARD_COUNT, shardOf } from './shards.js';

export interface ShardKeeperOptions {
  readonly nodeId: string;
  readonly membership: Membership;
  readonly leases: LeaseStore;
  /** Local monotonic clock, ms (performance.now in the daemon; a fake in tests). */
  readonly clock: () => number;
  readonly ttlMs: number;
  /** Safety margin between the local deadline and the database's expiry of a lease. */
  readonly marginMs: number;
  readonly shards?: number;
  /** Told once per node id about a member heartbeating with another cluster secret (to log why it is ignored). */
  readonly onRefused?: (member: Member) => void;
}

export interface RoundResult {
  readonly view: MemberView;
  /** The lease rows as read at the start of the round (database time `view.now`-ish). */
  readonly leases: readonly LeaseRow[];
  readonly plan: LeasePlan;
  readonly held: readonly number[];
}

export interface ShardKeeper {
  round(): Promise<RoundResult>;
  /** May this node probe and publish `key` now? */
  ownsKey(key: string): boolean;
  /** The epoch a health write for `key` must carry, or undefined when this node must not write it. */
  epochForKey(key: string): number | undefined;
  readonly table: LeaseTable;
  /** Releases everything held (clean shutdown), after forgetting it locally. */
  releaseAll(): Promise<void>;
}

export function createShardKeeper(opts: ShardKeeperOptions): ShardKeeper {
  const shards = opts.shards ?? SHARD_COUNT;
  const table = createLeaseTable({ ttlMs: opts.ttlMs, marginMs: opts.marginMs });
  const reported = new Set<string>();

  async function round(): Promise<RoundResult> {
    const sentAt = opts.clock();
    await opts.membership.heartbeat();
    const view = await opts.membership.view();
    for (const m of refusedMembers(view)) {
      if (reported.has(m.nodeId)) continue;
      reported.add(m.nodeId);
      opts.onRefused?.(m);
    }
    const { now, leases } = await opts.leases.read();
    const plan = planLeases({ self: opts.nodeId, liveMembers: liveIds(view), leases, now, shards });
    // Stop using what is handed over (or what the database says is no longer ours) before anything else.
    const keep = new Set([...plan.renew.map((l) => l.shard), ...plan.acquire]);
    table.drop(table.held(opts.clock()).filter((s) => !keep.has(s)));
    await opts.leases.release(plan.release);
    const renewed = await opts.leases.renew(plan.renew);
    const got = await opts.leases.acquire(plan.acquire);
    const confirmed = [...renewed, ...got];
    const ok = new Set(confirmed.map((l) => l.shard));
    // A refused renewal (or an acquisition another node won) means the shard is not ours: stop now.
    table.drop([...keep].filter((s) => !ok.has(s)));
    table.confirm(confirmed, sentAt);
    return { view, leases, plan, held: table.held(opts.clock()) };
  }

  return {
    round,
    table,
    ownsKey: (key) => table.owns(shardOf(key, shards), opts.clock()),
    epochForKey: (key) => table.epochFor(shardOf(key, shards), opts.clock()),
    async releaseAll() {
      const now = opts.clock();
      const held = table.held(now).map((shard) => ({ shard, epoch: table.epochFor(shard, now)! }));
      table.drop(held.map((l) => l.shard));
      await opts.leases.release(held);
    },
  };
}
