/**
 * The daemon's side of cluster mode: the secret it runs with, the cluster node on the shared store,
 * and the two seams between that node and the registry: the publisher (health decided here goes out
 * as a fenced write, then a broadcast) and the sink (changes from peers and from the store's feed
 * enter the registry through its one `apply` path, origin-marked, never published again).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { isVigilError, VigilError } from '../errors.js';
import type { HealthRow, MysqlStore } from '../registry/mysql-store.js';
import type { HealthPublisher, Registry } from '../registry/registry.js';
import type { ChangeSink } from './change-poller.js';
import { createClusterNode, type ClusterNode } from './cluster-node.js';

type ClusterConfig = Config['cluster'];

const MIN_SECRET = 16;

/** The secret from the config (inline or file) or, failing both, from the environment value the CLI passed. */
export function resolveClusterSecret(cluster: ClusterConfig, fromEnv: string | undefined, baseDir: string): string {
  let secret = cluster.secret;
  if (secret === undefined && cluster.secretFile !== undefined) {
    const path = resolve(baseDir, cluster.secretFile);
    try {
      secret = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `cluster.secretFile: cannot read ${path}: ${(err as Error).message}`, 'cluster.secretFile');
    }
  }
  secret ??= fromEnv;
  if (secret === undefined || secret.length < MIN_SECRET) {
    throw new VigilError(
      'VIGIL_ERR_CONFIG_INVALID',
      `cluster.secret: the shared store needs a cluster secret of at least ${MIN_SECRET} characters (cluster.secret, cluster.secretFile or VIGIL_CLUSTER_SECRET)`,
      'cluster.secret',
    );
  }
  return secret;
}

export interface DaemonClusterOptions {
  readonly store: MysqlStore;
  readonly cluster: ClusterConfig;
  readonly nodeId: string;
  readonly secret: string;
  readonly advertiseUrl: string;
  readonly logger: Logger;
}

export interface DaemonCluster {
  /** For the registry: publishes through the node once `attach` gave it one. */
  readonly publisher: HealthPublisher;
  /** Creates the node feeding `registry` (or `sink`, in its place, for all but settings); call once, after the registry exists. */
  attach(registry: Registry, sink?: Omit<ChangeSink, 'applySettings'>): ClusterNode;
  /**
   * Called with every health record applied from elsewhere (peer broadcast, the store's feed),
   * after the registry took it: the primaries tracker learns roles read by other nodes' probes.
   */
  onApplied(listener: (row: HealthRow) => void): void;
}

export function createDaemonCluster(opts: DaemonClusterOptions): DaemonCluster {
  const { logger, nodeId } = opts;
  let node: ClusterNode | undefined;
  // A store outage refuses every publication; one line per streak of the same code, not one per probe.
  let lastCode: string | undefined;
  let applied: ((row: HealthRow) => void) | undefined;
  const publisher: HealthPublisher = {
    nodeId,
    publish(key, health) {
      if (!node) return Promise.reject(new VigilError('VIGIL_ERR_CLUSTER_STALE_EPOCH', 'the cluster node has not started', 'epoch'));
      return node.publishHealth(key, health).then((stamp) => {
        if (lastCode !== undefined) logger.info('health publications are accepted again');
        lastCode = undefined;
        return stamp;
      });
    },
    onRefused(key, err) {
      const code = isVigilError(err) ? err.code : 'unexpected';
      if (code === lastCode) return;
      lastCode = code;
      // A lost shard is routine at hand-over, a superseded write after an operator's decision; anything else (the store) is what an operator wants to see.
      const level = code === 'VIGIL_ERR_CLUSTER_STALE_EPOCH' || code === 'VIGIL_ERR_CLUSTER_SUPERSEDED' ? 'info' : 'warn';
      logger[level]({ instance: key, code, err }, 'health change not published; the instance keeps its stored health until a publication succeeds');
    },
  };
  return {
    publisher,
    attach(registry, given) {
      // Settings are the registry's whichever sink takes the rest (a companion node's takes nothing else).
      const applySettings: ChangeSink['applySettings'] = (settings) => registry.applySettings(settings);
      const sink: ChangeSink = given ? { ...given, applySettings } : {
        applySettings,
        stampOf: (key) => registry.stampOf(key),
        applyHealth(row) {
          registry.applyHealth(row);
          applied?.(row);
        },
        applyInstance: (key, instance) => registry.applyInstance(key, instance),
        *instanceKeys() {
          for (const key of registry.keys()) if (registry.peek(key)?.instance.ephemeral === false) yield key;
        },
      };
      const c = opts.cluster;
      node = createClusterNode({
        store: opts.store,
        nodeId,
        secret: opts.secret,
        advertiseUrl: opts.advertiseUrl,
        memberTimeoutMs: c.memberTimeoutMs,
        leaseRenewMs: c.leaseRenewMs,
        leaseMarginMs: c.leaseMarginMs,
        pollMs: c.pollMs,
        pollWindowMs: c.pollWindowMs,
        batchMs: c.broadcastBatchMs,
        peerTimeoutMs: c.peerTimeoutMs,
        reconcileMs: c.reconcileMs,
        tombstoneRetentionMs: c.tombstoneRetentionMs,
        clock: () => performance.now(),
        logger,
        sink,
        onMemberChange: (change) => registry.announce({ type: 'member-changed', ...change, observedBy: nodeId }),
        autoRun: true,
      });
      return node;
    },
    onApplied(listener) {
      applied = listener;
    },
  };
}
