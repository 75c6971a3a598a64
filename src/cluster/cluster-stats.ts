/**
 * Plain figures of one node's cluster duty, kept as numbers in place and read on demand (the
 * daemon's /metrics reads them at scrape time; nothing here knows about Prometheus).
 */
import type { MemberView } from './membership.js';

/** Running totals the node bumps as it works. */
export interface ClusterCounters {
  /** Health changes sent to a peer that accepted the request, one per change per peer. */
  sent: number;
  /** Health changes whose request to a peer failed or was refused, one per change per peer (the poll repairs them). */
  failed: number;
  /** Health changes received by broadcast and applied (newer than held). */
  applied: number;
  /** Health changes this node first read from the store (poll or reconcile), not from a broadcast. */
  repaired: number;
  /** Local monotonic ms at which the last successful poll began (at start: when the node joined). */
  lastPollAt: number | undefined;
}

export interface ClusterStats {
  /** Members in this node's latest view: counted (alive and admitted), dead, refused (another secret). */
  readonly members: { readonly alive: number; readonly dead: number; readonly refused: number };
  readonly shardsOwned: number;
  readonly broadcastsSent: number;
  readonly broadcastsFailed: number;
  readonly broadcastsApplied: number;
  readonly broadcastsRepaired: number;
  /** How old this node's view of the store may be: ms since the last successful poll began. */
  readonly pollLagMs: number | undefined;
}

export const newCounters = (): ClusterCounters => ({ sent: 0, failed: 0, applied: 0, repaired: 0, lastPollAt: undefined });

export function clusterStats(c: ClusterCounters, view: MemberView | undefined, shardsOwned: number, now: number): ClusterStats {
  const members = { alive: 0, dead: 0, refused: 0 };
  for (const m of view?.members ?? []) members[!m.alive ? 'dead' : m.admitted ? 'alive' : 'refused']++;
  return {
    members,
    shardsOwned,
    broadcastsSent: c.sent,
    broadcastsFailed: c.failed,
    broadcastsApplied: c.applied,
    broadcastsRepaired: c.repaired,
    pollLagMs: c.lastPollAt === undefined ? undefined : Math.max(0, now - c.lastPollAt),
  };
}
