/**
 * The replicated ephemeral set. Ephemeral instances are not in the database (a beat every 5 s from
 * every client would be a write every 5 s per instance); instead the node responsible for an
 * instance (the holder of its shard's lease) sends every registration, update, health change and
 * deregistration it makes to every live peer, batched within `batchMs`. Beats are not replicated:
 * they only move a deadline on the responsible node.
 *
 * Order: each change is stamped (epoch of the shard lease it was made under, sequence of the node
 * that made it). A replica applies a change only when its stamp is newer than the one it holds,
 * tombstones included, so a late or replayed copy from a previous owner never undoes a newer
 * decision and a deletion is never undone by a stale replica. Tombstones are kept for
 * `tombstoneMs`.
 *
 * Repair: a node pulls, at start and every `reconcileMs`, what each peer is responsible for
 * (`GET`: instances and tombstones of its shards), applies what is newer, and drops replicas a peer
 * is responsible for but does not have (a lost deletion whose tombstone is gone). A registration
 * this node made while the owner was unreachable (epoch 0) that the owner lacks is sent again.
 *
 * The batches also carry whether the sender's self-preservation holds deletions; a node holds its
 * own deletions while any live peer does (sent at least every `syncMs`).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { PUBLIC } from '../api/access.js';
import { VigilError, type ErrorCode } from '../errors.js';
import type { Registry, RegistryEvent } from '../registry/registry.js';
import type { Peer } from './broadcaster.js';
import { EPHEMERAL_PATH, parseEphemeralBatch, parseEphemeralSnapshot, type EphemeralOp, type EphemeralSnapshot } from './ephemeral-messages.js';
import { signPeerRequest, verifyPeerRequest } from './peer-auth.js';
import { shardOf } from './shards.js';
import { isNewer } from './stamp.js';

/** Ops per request: keeps each body far below the route's limit. */
const OPS_PER_REQUEST = 2000;
const BODY_LIMIT = 64 * 1024 * 1024;

export interface ReplicationNode {
  ownsKey(key: string): boolean;
  heldShards(): number[];
  epochForKey(key: string): number | undefined;
  ownerOf(key: string): Peer | undefined;
  peers(): readonly Peer[];
}

export interface EphemeralReplicationOptions {
  readonly nodeId: string;
  readonly secret: string;
  readonly registry: Registry;
  readonly node: ReplicationNode;
  /** Whether this node's self-preservation holds deletions now; told peers expire an instance. */
  readonly beats: { holding(): boolean; peerExpired(n: number): void };
  readonly batchMs: number;
  readonly timeoutMs: number;
  readonly syncMs: number;
  readonly reconcileMs: number;
  readonly tombstoneMs: number;
  readonly now: () => number;
  readonly logger: Logger;
}

export interface ReplicationCounters {
  sent: number;
  applied: number;
  ignored: number;
  /** Replicas dropped by a reconcile: their owner no longer has them. */
  dropped: number;
  /** Registrations made here while the owner was unreachable, sent again because the owner lacked them. */
  resent: number;
  failedRequests: number;
}

export interface EphemeralReplication {
  start(): Promise<void>;
  stop(): Promise<void>;
  registerRoutes(app: FastifyInstance): void;
  /** A live peer's self-preservation holds deletions. */
  peerHolds(): boolean;
  /** Sends pending changes now. */
  flush(): Promise<void>;
  /** Pulls what every peer is responsible for and repairs this node's replicas. */
  reconcile(): Promise<void>;
  readonly counters: Readonly<ReplicationCounters>;
}

interface Held {
  readonly epoch: number;
  readonly seq: number;
}

const stampOf = (h: Held) => ({ epoch: h.epoch, version: h.seq });

export function createEphemeralReplication(opts: EphemeralReplicationOptions): EphemeralReplication {
  const { registry, node, logger } = opts;
  const agent = new Agent({ connect: { timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  const stamps = new Map<string, Held>();
  const tombstones = new Map<string, Held & { at: number }>();
  const peerHolding = new Map<string, { holding: boolean; at: number }>();
  const counters: ReplicationCounters = { sent: 0, applied: 0, ignored: 0, dropped: 0, resent: 0, failedRequests: 0 };
  let pending = new Map<string, EphemeralOp>();
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | undefined;
  const reported = new Set<string>();

  /** Strictly increasing, and ahead of any sequence this node used before a restart (ms clock). */
  const nextSeq = (): number => (seq = Math.max(seq + 1, opts.now()));

  function queue(op: EphemeralOp): void {
    pending.set(op.key, op);
    timer ??= setTimeout(() => void flush(), opts.batchMs).unref();
  }

  function onEvent(e: RegistryEvent): void {
    if (!('key' in e) || ('origin' in e && e.origin === 'peer')) return;
    let deleted = false;
    if (e.type === 'instance-deregistered') {
      if (!e.instance.ephemeral) return;
      deleted = true;
    } else if (e.type === 'instance-registered' || e.type === 'instance-updated' || e.type === 'health-changed' || e.type === 'override-changed') {
      if (!e.record.instance.ephemeral) return;
    } else return;
    // Answered here while the owner was unreachable (or this node's lease lapsing): replicated under
    // epoch 0, so that any copy its responsible node stamped wins over it.
    const epoch = (node.ownsKey(e.key) ? node.epochForKey(e.key) : undefined) ?? 0;
    const held = { epoch, seq: nextSeq() };
    if (deleted) {
      stamps.delete(e.key);
      tombstones.set(e.key, { ...held, at: opts.now() });
      const expired = e.type === 'instance-deregistered' && e.cause === 'expired';
      queue({ key: e.key, ...held, entry: null, ...(expired ? { expired: true } : {}) });
      return;
    }
    const rec = registry.peek(e.key);
    if (!rec) return;
    stamps.set(e.key, held);
    tombstones.delete(e.key);
    queue({ key: e.key, ...held, entry: { instance: rec.instance, health: rec.health } });
  }

  /** Applies copies from a peer that are newer than what this node holds. */
  function apply(ops: readonly EphemeralOp[]): void {
    for (const op of ops) {
      const held = stamps.get(op.key) ?? tombstones.get(op.key);
      if (!isNewer(stampOf(op), held && stampOf(held))) {
        counters.ignored++;
        continue;
      }
      const rec = registry.peek(op.key);
      if (rec && !rec.instance.ephemeral) {
        counters.ignored++;
        continue;
      }
      counters.applied++;
      if (op.entry === null) {
        stamps.delete(op.key);
        tombstones.set(op.key, { epoch: op.epoch, seq: op.seq, at: opts.now() });
        registry.applyEphemeral(op.key, null, op.expired ? 'expired' : undefined);
        if (op.expired) opts.beats.peerExpired(1);
      } else {
        tombstones.delete(op.key);
        stamps.set(op.key, { epoch: op.epoch, seq: op.seq });
        registry.applyEphemeral(op.key, op.entry);
      }
    }
  }

  async function send(peer: Peer, method: 'POST' | 'GET', body: string): Promise<string | undefined> {
    const headers = { 'content-type': 'application/json', ...signPeerRequest(opts.secret, opts.nodeId, { method, path: EPHEMERAL_PATH, body }) };
    try {
      const res = await request(new URL(EPHEMERAL_PATH, peer.url), { method, headers, dispatcher: agent, ...(method === 'POST' ? { body } : {}) });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        counters.failedRequests++;
        return undefined;
      }
      return text;
    } catch {
      counters.failedRequests++;
      return undefined;
    }
  }

  async function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const ops = [...pending.values()];
    pending = new Map();
    const holding = opts.beats.holding();
    const peers = node.peers();
    const chunks: EphemeralOp[][] = [];
    for (let i = 0; i < ops.length; i += OPS_PER_REQUEST) chunks.push(ops.slice(i, i + OPS_PER_REQUEST));
    if (chunks.length === 0) chunks.push([]);
    for (const chunk of chunks) {
      const body = JSON.stringify({ holding, ops: chunk });
      await Promise.all(peers.map((p) => send(p, 'POST', body)));
      counters.sent += chunk.length;
    }
  }

  async function reconcile(): Promise<void> {
    for (const peer of node.peers()) {
      const text = await send(peer, 'GET', '');
      if (text === undefined) continue;
      let snap: EphemeralSnapshot;
      try {
        snap = parseEphemeralSnapshot(JSON.parse(text));
      } catch (err) {
        logger.warn({ peer: peer.nodeId, err }, 'a peer sent an ephemeral snapshot that does not validate; ignored');
        continue;
      }
      apply(snap.ops);
      const has = new Set(snap.ops.map((o) => o.key));
      const theirs = new Set(snap.shards);
      let dropped = 0;
      for (const key of [...registry.keys()]) {
        if (has.has(key) || registry.peek(key)?.instance.ephemeral !== true || node.ownsKey(key)) continue;
        if (!theirs.has(shardOf(key))) continue;
        const held = stamps.get(key);
        // Changed by the peer after its snapshot (its sequence is later): the snapshot is the stale one.
        if (held && held.seq > snap.seq) continue;
        if (held?.epoch === 0) {
          // Registered at a node that could not reach the responsible one, and the copy it sent was
          // lost too: send it again rather than lose an acknowledged registration.
          const rec = registry.peek(key)!;
          queue({ key, ...held, entry: { instance: rec.instance, health: rec.health } });
          counters.resent++;
          continue;
        }
        stamps.delete(key);
        registry.applyEphemeral(key, null);
        dropped++;
      }
      counters.dropped += dropped;
      if (dropped > 0) logger.info({ peer: peer.nodeId, dropped }, 'dropped ephemeral replicas their responsible node no longer has');
    }
    const old = opts.now() - opts.tombstoneMs;
    for (const [key, t] of tombstones) if (t.at < old) tombstones.delete(key);
  }

  /**
   * Everything this node holds in the shards it is responsible for. The responsible node's word is
   * the reference for its shards, so each copy carries at least its current epoch: a replica that
   * missed a change (or holds a stale tombstone) takes this copy, one that got a later change keeps it.
   */
  function snapshotOps(): EphemeralSnapshot {
    const shards = node.heldShards();
    const mine = new Set(shards);
    const ops: EphemeralOp[] = [];
    for (const key of registry.keys()) {
      const rec = registry.peek(key);
      if (!rec?.instance.ephemeral || !mine.has(shardOf(key))) continue;
      const epoch = node.epochForKey(key);
      if (epoch === undefined) continue;
      const held = stamps.get(key);
      const stamp = held === undefined || held.epoch < epoch ? { epoch, seq: held?.seq ?? 0 } : held;
      ops.push({ key, ...stamp, entry: { instance: rec.instance, health: rec.health } });
    }
    // Deletions as well, as they were stamped: a replica that missed one applies it by its stamp.
    for (const [key, t] of tombstones) if (mine.has(shardOf(key)) && !registry.peek(key)) ops.push({ key, epoch: t.epoch, seq: t.seq, entry: null });
    // Later than any change this node made so far; a replica's copy stamped after it is newer than the snapshot.
    return { seq: nextSeq(), shards, ops };
  }

  function refuse(code: ErrorCode, field: string, message: string, nodeId?: string): VigilError {
    const once = `${code}\n${nodeId ?? ''}`;
    if (!reported.has(once)) {
      reported.add(once);
      logger.warn({ code, peer: nodeId, field }, `ephemeral replication request refused: ${message}`);
    }
    return new VigilError(code, message, field);
  }

  /** Signature, then a live admitted sender, as for health broadcasts (peer-route.ts). */
  function check(headers: Record<string, string | string[] | undefined>, method: string, body: string): string {
    const verdict = verifyPeerRequest(opts.secret, headers, { method, path: EPHEMERAL_PATH, body });
    if (!verdict.ok) throw refuse('VIGIL_ERR_CLUSTER_UNAUTHORIZED', verdict.field, verdict.message);
    if (!node.peers().some((p) => p.nodeId === verdict.nodeId)) {
      throw refuse('VIGIL_ERR_CLUSTER_UNKNOWN_NODE', 'x-vigil-node', `${verdict.nodeId} is not a live member of this cluster`, verdict.nodeId);
    }
    return verdict.nodeId;
  }

  return {
    async start() {
      unsubscribe = registry.subscribe(onEvent);
      await reconcile().catch((err: unknown) => logger.warn({ err }, 'could not pull the ephemeral set from the peers; the next reconcile retries'));
      const every = (ms: number, fn: () => Promise<void>) => {
        const t = setInterval(() => void fn().catch((err: unknown) => logger.warn({ err }, 'ephemeral replication failed')), ms);
        t.unref();
        timers.push(t);
      };
      every(opts.syncMs, () => (pending.size === 0 ? flush() : Promise.resolve()));
      every(opts.reconcileMs, reconcile);
    },
    async stop() {
      unsubscribe?.();
      for (const t of timers.splice(0)) clearInterval(t);
      await flush().catch(() => undefined);
      await agent.close();
    },
    registerRoutes(app) {
      void app.register(async (scope) => {
        scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
        scope.post(EPHEMERAL_PATH, { ...PUBLIC, bodyLimit: BODY_LIMIT }, async (req) => {
          const raw = typeof req.body === 'string' ? req.body : '';
          const sender = check(req.headers, 'POST', raw);
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw);
          } catch {
            throw refuse('VIGIL_ERR_REQUEST_BODY', 'body', 'the request body is not valid JSON', sender);
          }
          const batch = parseEphemeralBatch(parsed);
          peerHolding.set(sender, { holding: batch.holding, at: opts.now() });
          apply(batch.ops);
          return { ok: true };
        });
        scope.get(EPHEMERAL_PATH, PUBLIC, async (req) => {
          check(req.headers, 'GET', '');
          return snapshotOps();
        });
      });
    },
    peerHolds() {
      const fresh = opts.now() - 3 * opts.syncMs;
      return node.peers().some((p) => {
        const h = peerHolding.get(p.nodeId);
        return h !== undefined && h.holding && h.at >= fresh;
      });
    },
    flush,
    reconcile,
    counters,
  };
}
