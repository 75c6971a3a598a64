/**
 * One vigil node's cluster duty in one object, for the daemon to start and the scheduler to ask:
 * join (secret check), the lease round every `leaseRenewMs`, the trailing-window poll every
 * `pollMs`, fenced publication of health with broadcast, the peer route and the members view.
 * It holds no registry: changes that arrive (broadcast or poll) go to the `sink` the daemon gives
 * it, which is where the registry's one `apply` path plugs in.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { READ } from '../api/access.js';
import { isVigilError, VigilError } from '../errors.js';
import { redact } from '../security/redact.js';
import type { MysqlStore } from '../registry/mysql-store.js';
import type { StoredHealth } from '../registry/store.js';
import { createBroadcaster, type FlushResult, type Peer } from './broadcaster.js';
import { replayOperator } from './operator.js';
import { createFencedWriter, type FencedWriterStats } from './fenced-writer.js';
import { clusterStats, newCounters, type ClusterStats } from './cluster-stats.js';
import { createChangePoller, type ChangePoller, type ChangeSink } from './change-poller.js';
import { createLeaseStore } from './leases.js';
import { memberChanges, type MemberChange } from './member-changes.js';
import { createMembership } from './membership.js';
import { registerPeerRoutes } from './peer-route.js';
import { createShardKeeper, type RoundResult } from './shard-keeper.js';
import { shardOf } from './shards.js';
import type { Stamp } from './stamp.js';

export interface ClusterNodeOptions {
  readonly store: MysqlStore;
  readonly nodeId: string;
  readonly secret: string;
  readonly advertiseUrl: string;
  readonly memberTimeoutMs: number;
  readonly leaseRenewMs: number;
  readonly leaseMarginMs: number;
  readonly pollMs: number;
  readonly pollWindowMs: number;
  readonly batchMs: number;
  readonly peerTimeoutMs: number;
  /** Full reconcile (and purge of old tombstones) every this often. */
  readonly reconcileMs: number;
  /** Tombstones are kept this long: far longer than a poll window or a plausible node pause. */
  readonly tombstoneRetentionMs: number;
  /** Monotonic ms (performance.now in the daemon). */
  readonly clock: () => number;
  readonly logger: Logger;
  readonly sink: ChangeSink;
  /** Told of each member that came up or went down between two rounds (the daemon announces it). */
  readonly onMemberChange?: (change: MemberChange) => void;
  /** Run the round and the poll on timers (the daemon); tests may drive them by hand. */
  readonly autoRun?: boolean;
}

export interface MemberInfo {
  readonly nodeId: string;
  readonly url: string;
  readonly alive: boolean;
  readonly admitted: boolean;
  /** Database time (ms) of its last heartbeat. */
  readonly lastSeen: number;
  /** Unexpired shard leases it held at the last round. */
  readonly shards: number;
}

export interface ClusterNode {
  start(): Promise<void>;
  /**
   * Clean stop: release leases and leave, so the others take over at their next round. With
   * `{ graceful: false }` it only stops its timers and sends nothing, as a crash would (tests, bench).
   */
  stop(opts?: { graceful?: boolean }): Promise<void>;
  round(): Promise<RoundResult>;
  poll(): Promise<void>;
  /** Full repair from the store, then purge of old tombstones. */
  reconcile(): Promise<void>;
  /** Sends pending broadcasts now instead of at the end of the batch window. */
  flush(): Promise<FlushResult>;
  ownsKey(key: string): boolean;
  /** The epoch of this node's lease on the shard of `key`, undefined when it does not hold it now. */
  epochForKey(key: string): number | undefined;
  /** The node holding the lease of `key`'s shard at the last round (unexpired, live), if any. */
  ownerOf(key: string): Peer | undefined;
  /** The live admitted members other than this node, as of the last round. */
  peers(): readonly Peer[];
  /** The shards this node may act on now (its local lease table). */
  heldShards(): number[];
  /**
   * Writes under the shard's epoch (batched with other publications, fenced-writer.ts), then
   * broadcasts; refuses (STALE_EPOCH) when this node does not hold the shard.
   */
  publishHealth(key: string, health: StoredHealth): Promise<Stamp & { health?: StoredHealth }>;
  /** What became of this node's publications: plain counters, read by the members route and by whoever wants them. */
  readonly publications: Readonly<FencedWriterStats>;
  members(): MemberInfo[];
  /** Counters and current figures (members, shards, broadcasts, poll lag) for metrics. */
  stats(): ClusterStats;
  registerRoutes(app: FastifyInstance): void;
}

export function createClusterNode(opts: ClusterNodeOptions): ClusterNode {
  const { store, nodeId, logger } = opts;
  const membership = createMembership({ db: store.db, nodeId, url: opts.advertiseUrl, memberTimeoutMs: opts.memberTimeoutMs, secret: opts.secret });
  const keeper = createShardKeeper({
    nodeId,
    membership,
    leases: createLeaseStore({ db: store.db, nodeId, ttlMs: opts.memberTimeoutMs }),
    clock: opts.clock,
    ttlMs: opts.memberTimeoutMs,
    marginMs: opts.leaseMarginMs,
    onRefused: (m) => logger.warn({ peer: m.nodeId, url: m.url }, 'a node heartbeats with another cluster secret; it is not counted as a member'),
  });
  let last: RoundResult | undefined;
  let poller: ChangePoller | undefined;
  // The last round's leases by shard, for ownerOf on the beat path.
  let byShard: { round: RoundResult; leases: Map<number, RoundResult['leases'][number]> } | undefined;
  const peers = () => (last ? last.view.members.filter((m) => m.alive && m.admitted && m.nodeId !== nodeId) : []);
  const counters = newCounters();
  const broadcaster = createBroadcaster({
    nodeId,
    secret: opts.secret,
    peers,
    batchMs: opts.batchMs,
    timeoutMs: opts.peerTimeoutMs,
    onFlush: (changes, to, failed) => {
      counters.sent += changes * (to - failed);
      counters.failed += changes * failed;
    },
  });
  const stops: Array<() => void> = [];
  const writer = createFencedWriter({
    store,
    nodeId,
    maxBatch: 500,
    // Of the pool's connections (store.poolSize, default 6), leave room for rounds and polls.
    maxInFlight: 3,
    // Queued for broadcast as the commit returns; the broadcaster sends within its batch window.
    onCommitted(written) {
      for (const w of written) broadcaster.publish({ key: w.key, epoch: w.epoch, decidedByNode: nodeId, health: w.health });
    },
  });

  /**
   * An operator's decision counts on whichever node it was made: it is replayed on the stored
   * record under lock (the node's own copy may be behind the owner's) and written under the
   * shard's current epoch, then broadcast like any change. The owner's next decision builds on it.
   */
  async function publishOperator(key: string, local: StoredHealth): Promise<Stamp & { health: StoredHealth }> {
    let changed = false;
    const row = await store.putOperatorHealth(key, nodeId, (stored) => {
      const next = replayOperator(stored, local, Date.now());
      changed = next !== stored;
      return next;
    });
    if (changed) broadcaster.publish({ key, epoch: row.epoch, decidedByNode: row.decidedByNode, health: row.health });
    return { epoch: row.epoch, version: row.health.health.version, health: row.health };
  }

  /** Shard → lease epoch of the latest round, rebuilt once per round. */
  let epochIndex: { of: RoundResult | undefined; map: Map<number, number> } = { of: undefined, map: new Map() };
  const epochs = () => {
    if (epochIndex.of !== last) epochIndex = { of: last, map: new Map((last?.leases ?? []).map((l) => [l.shard, l.epoch])) };
    return epochIndex.map;
  };

  async function round(): Promise<RoundResult> {
    const prev = last?.view;
    last = await keeper.round();
    for (const change of memberChanges(prev, last.view)) {
      try {
        opts.onMemberChange?.(change);
      } catch (err) {
        logger.error({ err }, 'reporting a member change failed');
      }
    }
    return last;
  }

  async function poll(): Promise<void> {
    if (!poller) return;
    const startedAt = opts.clock();
    counters.repaired += (await poller.poll()).health;
    counters.lastPollAt = startedAt;
  }

  async function reconcile(): Promise<void> {
    if (!poller) return;
    const r = await poller.reconcile();
    counters.repaired += r.health;
    if (r.instances + r.health + r.removed + r.settings > 0) logger.info(r, 'reconcile repaired what the poll had missed');
    await store.purgeTombstones(opts.tombstoneRetentionMs);
  }

  function members(): MemberInfo[] {
    if (!last) return [];
    const { view, leases } = last;
    return view.members.map((m) => ({
      nodeId: m.nodeId,
      url: m.url,
      alive: m.alive,
      admitted: m.admitted,
      lastSeen: m.lastSeen,
      shards: leases.filter((l) => l.owner === m.nodeId && l.expiresAt > view.now).length,
    }));
  }

  /** Runs `fn` every `ms`, never overlapping itself; logs the first failure of a streak and the recovery. */
  function every(ms: number, name: string, fn: () => Promise<unknown>): void {
    let stopped = false;
    let failing = false;
    let timer: NodeJS.Timeout;
    const tick = async () => {
      try {
        await fn();
        if (failing) logger.info(`cluster ${name} works again`);
        failing = false;
      } catch (err) {
        if (!failing) logger.warn({ err }, `cluster ${name} failed; retrying every ${ms} ms`);
        failing = true;
      }
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    };
    timer = setTimeout(() => void tick(), ms);
    stops.push(() => {
      stopped = true;
      clearTimeout(timer);
    });
  }

  return {
    async start() {
      await membership.join();
      const first = await round();
      // The daemon loaded the registry before starting; the window covers what changed meanwhile.
      poller = createChangePoller({ source: store, sink: opts.sink, windowMs: opts.pollWindowMs, since: first.view.now });
      // The load and the first round are the node's first view of the store.
      counters.lastPollAt = opts.clock();
      if (opts.autoRun) {
        every(opts.leaseRenewMs, 'lease round', round);
        every(opts.pollMs, 'poll', poll);
        every(opts.reconcileMs, 'reconcile', reconcile);
      }
    },
    async stop({ graceful = true } = {}) {
      for (const stop of stops.splice(0)) stop();
      if (!graceful) return;
      await broadcaster.close();
      await keeper.releaseAll().catch((err: unknown) => logger.warn({ err }, 'could not release shard leases; they lapse by themselves'));
      await membership.leave().catch(() => undefined);
    },
    round,
    poll,
    reconcile,
    flush: () => broadcaster.flush(),
    ownsKey: (key) => keeper.ownsKey(key),
    epochForKey: (key) => keeper.epochForKey(key),
    ownerOf(key) {
      if (!last) return undefined;
      if (byShard?.round !== last) byShard = { round: last, leases: new Map(last.leases.map((l) => [l.shard, l])) };
      const lease = byShard.leases.get(shardOf(key));
      if (!lease || lease.owner === null || lease.expiresAt <= last.view.now) return undefined;
      return last.view.members.find((m) => m.nodeId === lease.owner && m.alive && m.admitted);
    },
    peers,
    heldShards: () => keeper.table.held(opts.clock()),
    async publishHealth(key, health) {
      if (health.health.decidedBy === 'operator') {
        const done = await publishOperator(key, health);
        // Nothing for the operator to change, yet the record moved on here (a role read while an
        // override holds): that part is the owner's to publish, fenced as usual.
        if (done.version >= health.health.version || keeper.epochForKey(key) === undefined) return done;
      }
      const epoch = keeper.epochForKey(key);
      if (epoch === undefined) throw new VigilError('VIGIL_ERR_CLUSTER_STALE_EPOCH', `${nodeId} does not hold the shard of ${key}`, 'epoch');
      try {
        await writer.write({ key, health, epoch });
      } catch (err) {
        // Lost the shard: stop publishing it now rather than at the lease's local deadline.
        if (isVigilError(err, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')) keeper.table.drop([shardOf(key)]);
        throw err;
      }
      return { epoch, version: health.health.version };
    },
    publications: writer.stats,
    members,
    stats: () => clusterStats(counters, last?.view, keeper.table.held(opts.clock()).length, opts.clock()),
    registerRoutes(app) {
      const sink = opts.sink;
      registerPeerRoutes(app, {
        secret: opts.secret,
        isMember: (id) => peers().some((m) => m.nodeId === id),
        sink: {
          stampOf: (key) => sink.stampOf(key),
          applyHealth(row) {
            counters.applied++;
            sink.applyHealth(row);
          },
        },
        onRefused: (r) => logger.warn({ code: r.code, peer: r.nodeId, field: r.field }, `peer request refused: ${r.message}`),
        knownEpoch: (key) => epochs().get(shardOf(key)),
      });
      // `self`: this node's own view now: the shards it trusts its leases for, and its publications.
      const self = () => ({ nodeId, shardsHeld: keeper.table.held(opts.clock()).length, publications: { ...writer.stats }, broadcasts: { ...broadcaster.stats } });
      app.get('/v1/cluster/members', READ, async () => redact({ members: members(), self: self() }));
    },
  };
}
