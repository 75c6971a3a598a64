/**
 * Membership kept in the shared database: each node heartbeats its own row, and whether a member
 * is alive is judged by the database's clock (`last_seen` against NOW(3)) in the same statement
 * that reads it. No node compares its clock with another's, so a node with a wrong clock, or one
 * paused for a while, cannot make a live member look dead or a dead one look alive.
 */
import { VigilError } from '../errors.js';
import { DB_NOW_MS, type Sql } from '../registry/mysql/db.js';
import { clusterCheck, memberProof, sameHex } from './peer-auth.js';

export interface Member {
  readonly nodeId: string;
  readonly url: string;
  /** Database time (ms) of the member's last heartbeat. */
  readonly lastSeen: number;
  readonly startedAt: number;
  /** Heartbeat recent enough by database time (whatever its proof). */
  readonly alive: boolean;
  /** Its proof verifies with this node's cluster secret; only admitted members are counted. */
  readonly admitted: boolean;
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
  readonly secret: string;
}

export interface Membership {
  /**
   * Checks, once at start, that this node's secret is the cluster's (the first node to join sets
   * it); refuses with VIGIL_ERR_CLUSTER_UNAUTHORIZED otherwise, before any heartbeat is written.
   */
  join(): Promise<void>;
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
  const { db, nodeId, secret } = opts;
  const proof = memberProof(secret, nodeId);
  return {
    async join() {
      const check = clusterCheck(secret);
      await db.run(`INSERT INTO vigil_cluster (id, secret_check, created_at) VALUES (1, ?, ${DB_NOW_MS}) ON DUPLICATE KEY UPDATE id = id`, [check]);
      const [row] = await db.rows<{ check: string }>('SELECT secret_check AS `check` FROM vigil_cluster WHERE id = 1');
      if (!row || !sameHex(row.check, check)) {
        throw new VigilError('VIGIL_ERR_CLUSTER_UNAUTHORIZED', `node ${nodeId} has another cluster secret than the cluster in this database; not joining`, 'cluster.secret');
      }
    },
    async heartbeat() {
      await db.run(
        `INSERT INTO vigil_members (node_id, url, proof, started_at, last_seen) VALUES (?, ?, ?, ${DB_NOW_MS}, ${DB_NOW_MS})
         ON DUPLICATE KEY UPDATE url = VALUES(url), proof = VALUES(proof), last_seen = VALUES(last_seen)`,
        [nodeId, opts.url, proof],
      );
      const [row] = await db.rows<{ seen: number }>('SELECT last_seen AS seen FROM vigil_members WHERE node_id = ?', [nodeId]);
      return row?.seen ?? 0;
    },
    async view() {
      const rows = await db.rows<{ nodeId: string; url: string; proof: string; lastSeen: number; startedAt: number; now: number; alive: number }>(
        `SELECT node_id AS nodeId, url, proof, last_seen AS lastSeen, started_at AS startedAt, n.now AS now,
                (last_seen > n.now - ?) AS alive
         FROM (SELECT ${DB_NOW_MS} AS now) n LEFT JOIN vigil_members ON TRUE ORDER BY node_id`,
        [opts.memberTimeoutMs],
      );
      const now = rows[0]?.now ?? 0;
      const members = rows
        .filter((r) => r.nodeId !== null)
        .map((r) =>
          Object.freeze({
            nodeId: r.nodeId,
            url: r.url,
            lastSeen: r.lastSeen,
            startedAt: r.startedAt,
            alive: r.alive === 1,
            admitted: sameHex(r.proof, memberProof(secret, r.nodeId)),
          }),
        );
      return Object.freeze({ now, members: Object.freeze(members) });
    },
    async leave() {
      await db.run('DELETE FROM vigil_members WHERE node_id = ?', [nodeId]);
    },
  };
}

/** The members that count: alive by database time and admitted by their proof. */
export function liveIds(view: MemberView): string[] {
  return view.members.filter((m) => m.alive && m.admitted).map((m) => m.nodeId);
}

/** Members heartbeating with a proof that does not verify: started with another secret. */
export function refusedMembers(view: MemberView): Member[] {
  return view.members.filter((m) => m.alive && !m.admitted);
}
