/**
 * Membership kept in the shared database: each node heartbeats its own row, and whether a member
 * is alive is judged by the database's clock (`last_seen` against NOW(3)) in the same statement
 * that reads it. No node compares its clock with another's, so a node with a wrong clock, or one
 * paused for a while, cannot make a live member look dead or a dead one look alive.
 */
import { DB_NOW_MS, type Sql } from '../registry/mysql/db.js';

export interface Member {
  readonly nodeId: string;
  readonly url: string;
  /** Database time (ms) of the member's last heartbeat. */
  readonly lastSeen: number;
  readonly startedAt: number;
  readonly alive: boolean;
}

export interface MemberView {
  /** Database time (ms) of the read: the `now` that `alive` was judged at. */
  readonly now: number;
  readonly members: readonly Member[];
}

export interface MembershipOptions {
  readonly db: Sql;
  readonly nodeId: string;
  /** Where peers reach this node's API (cluster.advertiseUrl). */
  readonly url: string;
  /** A member whose last heartbeat is older than this (by database time) is dead. */
  readonly memberTimeoutMs: number;
}

export interface Membership {
  /** Records that this node is alive now (database time); returns that time. */
  heartbeat(): Promise<number>;
  view(): Promise<MemberView>;
  /** Removes this node's row on a clean shutdown, so the others need not wait for the timeout. */
  leave(): Promise<void>;
}

/** Node ids name lease owners and appear in URLs and logs: keep them short and plain. */
export const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function createMembership(opts: MembershipOptions): Membership {
  if (!NODE_ID.test(opts.nodeId)) throw new RangeError(`node id ${JSON.stringify(opts.nodeId)} must match ${NODE_ID.source}`);
  const { db, nodeId } = opts;
  return {
    async heartbeat() {
      await db.run(
        `INSERT INTO vigil_members (node_id, url, started_at, last_seen) VALUES (?, ?, ${DB_NOW_MS}, ${DB_NOW_MS})
         ON DUPLICATE KEY UPDATE url = VALUES(url), last_seen = VALUES(last_seen)`,
        [nodeId, opts.url],
      );
      const [row] = await db.rows<{ seen: number }>('SELECT last_seen AS seen FROM vigil_members WHERE node_id = ?', [nodeId]);
      return row?.seen ?? 0;
    },
    async view() {
      const rows = await db.rows<{ nodeId: string; url: string; lastSeen: number; startedAt: number; now: number; alive: number }>(
        `SELECT node_id AS nodeId, url, last_seen AS lastSeen, started_at AS startedAt, n.now AS now,
                (last_seen > n.now - ?) AS alive
         FROM (SELECT ${DB_NOW_MS} AS now) n LEFT JOIN vigil_members ON TRUE ORDER BY node_id`,
        [opts.memberTimeoutMs],
      );
      const now = rows[0]?.now ?? 0;
      const members = rows
        .filter((r) => r.nodeId !== null)
        .map((r) => Object.freeze({ nodeId: r.nodeId, url: r.url, lastSeen: r.lastSeen, startedAt: r.startedAt, alive: r.alive === 1 }));
      return Object.freeze({ now, members: Object.freeze(members) });
    },
    async leave() {
      await db.run('DELETE FROM vigil_members WHERE node_id = ?', [nodeId]);
    },
  };
}

export function liveIds(view: MemberView): string[] {
  return view.members.filter((m) => m.alive).map((m) => m.nodeId);
}
