/**
 * Nacos answer shapes: the `instance/list` document (also the payload of UDP pushes) and instance
 * details. The list must echo `name` and `clusters` exactly as requested: the npm client files the
 * answer under `name@@clusters` and its subscribe listener listens on the key it asked with.
 */
import type { BeatTimeouts } from '../beat/timeouts.js';
import { groupedName, type Instance, type InstanceId, type InstanceRecord } from '../registry/model.js';

export function instanceIdOf(i: InstanceId): string {
  return `${i.ip}#${i.port}#${i.cluster}#${i.group}@@${i.service}`;
}

export interface ListRequest {
  /** `serviceName` as sent. */
  readonly name: string;
  readonly group: string;
  /** `clusters` as sent ('' when absent). */
  readonly clusters: string;
  readonly healthyOnly: boolean;
}

export interface Selected {
  readonly rec: InstanceRecord;
  /** As shown: true for every host once the protect threshold is reached. */
  readonly healthy: boolean;
}

/**
 * Nacos's selection: enabled instances of the requested clusters (all when none given). When the
 * healthy share is at or below the service's `protectThreshold`, every host is shown healthy so
 * that consumers spread load instead of crushing the few healthy ones.
 */
export function selectHosts(
  recs: readonly InstanceRecord[],
  clusters: string,
  healthyOnly: boolean,
  protectThreshold: number,
): { hosts: Selected[]; reached: boolean } {
  const wanted = clusters === '' ? undefined : new Set(clusters.split(',').map((c) => c.trim()).filter((c) => c !== ''));
  const eligible = recs.filter((r) => r.instance.enabled && (!wanted || wanted.size === 0 || wanted.has(r.instance.cluster)));
  const healthyCount = eligible.reduce((n, r) => n + (r.health.healthy ? 1 : 0), 0);
  const reached = protectThreshold > 0 && eligible.length > 0 && healthyCount / eligible.length <= protectThreshold;
  const hosts = eligible
    .map((rec) => ({ rec, healthy: reached || rec.health.healthy }))
    .filter((h) => !healthyOnly || h.healthy);
  return { hosts, reached };
}

/** What the primaries tracker last saw of an instance's role. */
export interface RoleMeta {
  readonly role: string;
  readonly since: number;
}

/**
 * The instance's metadata, plus `role` and `roleSince` (ms epoch, as text: Nacos metadata values
 * are strings) when its checker reports a role, so Nacos clients see primaries without another API.
 */
export function metadataWithRole(i: Instance, role: RoleMeta | undefined): Readonly<Record<string, string>> {
  return role ? { ...i.metadata, role: role.role, roleSince: String(role.since) } : i.metadata;
}

export function hostView(i: Instance, healthy: boolean, t: BeatTimeouts, role?: RoleMeta): Record<string, unknown> {
  return {
    instanceId: instanceIdOf(i),
    ip: i.ip,
    port: i.port,
    weight: i.weight,
    healthy,
    enabled: i.enabled,
    ephemeral: i.ephemeral,
    clusterName: i.cluster,
    serviceName: groupedName(i),
    metadata: metadataWithRole(i, role),
    instanceHeartBeatInterval: t.intervalMs,
    instanceHeartBeatTimeOut: t.heartbeatTimeoutMs,
    ipDeleteTimeout: t.deleteTimeoutMs,
  };
}

export interface ListView {
  readonly name: string;
  readonly groupName: string;
  readonly clusters: string;
  readonly cacheMillis: number;
  readonly hosts: Array<Record<string, unknown>>;
  readonly lastRefTime: number;
  readonly checksum: string;
  readonly allIPs: false;
  readonly reachProtectionThreshold: boolean;
  readonly valid: true;
}

export function listView(
  req: ListRequest,
  selected: { hosts: Selected[]; reached: boolean },
  timeoutsOf: (rec: InstanceRecord) => BeatTimeouts,
  cacheMillis: number,
  now: number,
  roleOf?: (rec: InstanceRecord) => RoleMeta | undefined,
): ListView {
  return {
    name: req.name,
    groupName: req.group,
    clusters: req.clusters,
    cacheMillis,
    hosts: selected.hosts.map((h) => hostView(h.rec.instance, h.healthy, timeoutsOf(h.rec), roleOf?.(h.rec))),
    lastRefTime: now,
    checksum: '',
    allIPs: false,
    reachProtectionThreshold: selected.reached,
    valid: true,
  };
}

/** `GET instance` (detail): Nacos 1.x's shape. */
export function detailView(rec: InstanceRecord, role?: RoleMeta): Record<string, unknown> {
  const i = rec.instance;
  return {
    service: groupedName(i),
    ip: i.ip,
    port: i.port,
    clusterName: i.cluster,
    weight: i.weight,
    healthy: rec.health.healthy,
    enabled: i.enabled,
    ephemeral: i.ephemeral,
    instanceId: instanceIdOf(i),
    metadata: metadataWithRole(i, role),
  };
}
