/**
 * The Nacos data model: namespace → group → service → cluster → instance `ip:port`. Persistent
 * instances (`ephemeral: false`) are probed and never deleted but by an explicit deregister.
 */
import type { ProbeResult } from '../health/contract.js';
import type { HealthState } from '../health/state-machine.js';

export const DEFAULT_NAMESPACE = 'public';
export const DEFAULT_GROUP = 'DEFAULT_GROUP';
export const DEFAULT_CLUSTER = 'DEFAULT';

export interface ServiceId {
  readonly namespace: string;
  readonly group: string;
  readonly service: string;
}

export interface InstanceId extends ServiceId {
  readonly cluster: string;
  readonly ip: string;
  readonly port: number;
}

/** How one instance (or every instance of a service or cluster) is probed. */
export interface CheckerConfig {
  readonly type: string;
  /** Validated against the checker's schema and frozen. */
  readonly options: object;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly fastIntervalMs?: number;
  readonly downIntervalMs?: number;
  readonly rise?: number;
  readonly fall?: number;
  /** Probe this port instead of the instance's (Nacos `checkPort`). */
  readonly port?: number;
}

export interface Instance extends InstanceId {
  readonly weight: number;
  readonly enabled: boolean;
  readonly ephemeral: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  /** Per-instance override of the service/cluster checker config. */
  readonly checker?: CheckerConfig;
  /** Health a newly registered instance starts with (default healthy, as Nacos). */
  readonly initialHealthy?: boolean;
  readonly registeredAt: number;
}

/** Where a stored checker config applies: a whole service, or one cluster of it. */
export interface CheckerScope extends ServiceId {
  readonly cluster?: string;
}

export interface InstanceRecord {
  readonly instance: Instance;
  readonly health: HealthState;
  readonly lastProbe?: ProbeResult;
}

/** Just the fields that name an instance (views and events show these, never metadata). */
export function instanceIdOf(i: InstanceId): InstanceId {
  return { namespace: i.namespace, group: i.group, service: i.service, cluster: i.cluster, ip: i.ip, port: i.port };
}

export function serviceKey(s: ServiceId): string {
  return `${s.namespace}/${s.group}@@${s.service}`;
}

export function scopeKey(s: CheckerScope): string {
  return s.cluster === undefined ? serviceKey(s) : `${serviceKey(s)}/${s.cluster}`;
}

export function instanceKey(i: InstanceId): string {
  return `${serviceKey(i)}/${i.cluster}/${i.ip.includes(':') ? `[${i.ip}]` : i.ip}:${i.port}`;
}

export function groupedName(s: { group: string; service: string }): string {
  return `${s.group}@@${s.service}`;
}

/** Splits `group@@name` (Nacos's wire form); a bare name belongs to DEFAULT_GROUP. */
export function splitServiceName(name: string, group?: string): { group: string; service: string } {
  const at = name.indexOf('@@');
  if (at >= 0) return { group: name.slice(0, at), service: name.slice(at + 2) };
  return { group: group || DEFAULT_GROUP, service: name };
}
