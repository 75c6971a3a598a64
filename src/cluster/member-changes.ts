/**
 * Which members came up or went down between two of this node's membership views: the counted
 * members (alive by database time and admitted) of the new view against those of the previous one.
 * Pure, so it is tested with literal views; the node calls it after each round and the daemon
 * announces the result on the registry's change feed (`member-up` / `member-down` events).
 */
import type { MemberView } from './membership.js';

export interface MemberChange {
  readonly what: 'up' | 'down';
  readonly nodeId: string;
  readonly url: string;
  /**
   * up: `joined` (no row in the previous view) or `heartbeat-resumed`; down: `left` (its row is
   * gone: a clean stop), `heartbeat-timeout` or `refused` (heartbeating with another secret).
   */
  readonly reason: 'joined' | 'heartbeat-resumed' | 'left' | 'heartbeat-timeout' | 'refused';
  /** Database time (ms) of its last heartbeat as last read (for `left`, as the previous view had it). */
  readonly lastSeen: number;
  /** Database time (ms) of the view that showed the change. */
  readonly at: number;
}

const counted = (m: { alive: boolean; admitted: boolean }) => m.alive && m.admitted;

/** The changes from `prev` to `next`; none for the first view (nothing to compare it with). */
export function memberChanges(prev: MemberView | undefined, next: MemberView): MemberChange[] {
  if (!prev) return [];
  const before = new Map(prev.members.map((m) => [m.nodeId, m]));
  const after = new Map(next.members.map((m) => [m.nodeId, m]));
  const out: MemberChange[] = [];
  for (const m of next.members) {
    const was = before.get(m.nodeId);
    const wasIn = was !== undefined && counted(was);
    if (counted(m) && !wasIn) out.push({ what: 'up', nodeId: m.nodeId, url: m.url, reason: was ? 'heartbeat-resumed' : 'joined', lastSeen: m.lastSeen, at: next.now });
    if (!counted(m) && wasIn) out.push({ what: 'down', nodeId: m.nodeId, url: m.url, reason: m.alive ? 'refused' : 'heartbeat-timeout', lastSeen: m.lastSeen, at: next.now });
  }
  for (const m of prev.members) {
    if (!after.has(m.nodeId) && counted(m)) out.push({ what: 'down', nodeId: m.nodeId, url: m.url, reason: 'left', lastSeen: m.lastSeen, at: next.now });
  }
  return out;
}
