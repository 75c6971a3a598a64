/**
 * Ephemeral instances across peers, composed for the daemon (docs/cluster.md, "Ephemeral
 * instances"): one responsible node per instance (the holder of its shard's lease, as for probing),
 * forwarding of writes to it (ephemeral-forward.ts), the replicated set (ephemeral-replication.ts),
 * and the two questions the beat module asks: "am I responsible for this key now?" and "does a
 * peer hold deletions?".
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Registry } from '../registry/registry.js';
import type { ClusterNode } from './cluster-node.js';
import { createForwarder, type ForwardCounters } from './ephemeral-forward.js';
import { createEphemeralReplication, type ReplicationCounters } from './ephemeral-replication.js';

export interface EphemeralClusterOptions {
  readonly node: ClusterNode;
  readonly registry: Registry;
  readonly nodeId: string;
  readonly secret: string;
  readonly cluster: Config['cluster'];
  /** The beat module, created after this (it asks `owns` and `peerHolds`). */
  readonly beats: () => { holding(): boolean; peerExpired(n: number): void };
  readonly now: () => number;
  readonly logger: Logger;
}

export interface EphemeralCluster {
  owns(key: string): boolean;
  peerHolds(): boolean;
  forward(key: string, req: FastifyRequest, reply: FastifyReply): Promise<boolean>;
  /** The forwarding check (before any route) and the replication routes. */
  register(app: FastifyInstance): void;
  /** After the cluster node started: pulls the set from the peers, starts the timers. */
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): { forwarding: Readonly<ForwardCounters>; replication: Readonly<ReplicationCounters> };
}

/** The ephemeral replication window when `cluster.broadcastBatchMs` is 0 (health lanes only). */
const EPHEMERAL_BATCH_MS = 20;

export function createEphemeralCluster(opts: EphemeralClusterOptions): EphemeralCluster {
  const { node, cluster } = opts;
  const forwarder = createForwarder({ nodeId: opts.nodeId, secret: opts.secret, ownerOf: (k) => node.ownerOf(k), timeoutMs: cluster.peerTimeoutMs, logger: opts.logger });
  const replication = createEphemeralReplication({
    nodeId: opts.nodeId,
    secret: opts.secret,
    registry: opts.registry,
    node,
    beats: { holding: () => opts.beats().holding(), peerExpired: (n) => opts.beats().peerExpired(n) },
    // No lanes here (a request per window, several may be in flight): 0 keeps the former 20 ms window.
    batchMs: cluster.broadcastBatchMs > 0 ? cluster.broadcastBatchMs : EPHEMERAL_BATCH_MS,
    timeoutMs: cluster.peerTimeoutMs,
    syncMs: cluster.leaseRenewMs,
    reconcileMs: cluster.reconcileMs,
    tombstoneMs: cluster.tombstoneRetentionMs,
    now: opts.now,
    logger: opts.logger,
  });
  return {
    owns: (key) => node.ownsKey(key),
    peerHolds: () => replication.peerHolds(),
    forward: (key, req, reply) => forwarder.forward(key, req, reply),
    register(app) {
      forwarder.install(app);
      replication.registerRoutes(app);
    },
    start: () => replication.start(),
    async stop() {
      await replication.stop();
      await forwarder.close();
    },
    status: () => ({ forwarding: forwarder.counters, replication: replication.counters }),
  };
}
