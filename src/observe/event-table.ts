/**
 * The one table that turns registry changes into the events operators see (SSE `/v1/events`,
 * webhooks). Keyed by every RegistryEvent type, so a new registry event does not compile until it
 * has its line here; a line returning undefined keeps that change internal.
 */
import type { ProbeResult } from '../health/contract.js';
import { groupedName, instanceIdOf, type Instance, type InstanceRecord } from '../registry/model.js';
import type { RegistryEvent } from '../registry/registry.js';

/** Where an event belongs, for filters and per-instance ordering; absent for daemon-wide events. */
export interface EventScope {
  readonly namespace: string;
  /** `group@@name`. */
  readonly service: string;
  readonly kind: 'ephemeral' | 'persistent';
  /** The instance key, when the event is about one instance. */
  readonly instance?: string;
}

export interface MappedEvent {
  readonly type: string;
  readonly scope?: EventScope;
  readonly data: Readonly<Record<string, unknown>>;
}

type Of<T extends RegistryEvent['type']> = Extract<RegistryEvent, { type: T }>;
type Table = { readonly [T in RegistryEvent['type']]: (e: Of<T>) => MappedEvent | undefined };

const scopeOf = (i: Instance, key?: string): EventScope => ({
  namespace: i.namespace,
  service: groupedName(i),
  kind: i.ephemeral ? 'ephemeral' : 'persistent',
  ...(key === undefined ? {} : { instance: key }),
});

/** The fields that name an instance; metadata and checker options stay out (they may hold secrets). */
const idOf = (i: Instance): Record<string, unknown> => ({ ...instanceIdOf(i), ephemeral: i.ephemeral });

const probeOf = (p: ProbeResult | undefined): Record<string, unknown> | null =>
  p ? { status: p.status, reason: p.reason, latencyMs: p.latencyMs, startedAt: p.startedAt, type: p.type, detail: p.detail ?? null } : null;

const instanceEvent = (type: string, key: string, r: InstanceRecord): MappedEvent => ({
  type,
  scope: scopeOf(r.instance, key),
  data: { key, instance: idOf(r.instance), healthy: r.health.healthy },
});

export const EVENT_TABLE: Table = {
  'instance-registered': (e) => instanceEvent('instance-registered', e.key, e.record),
  'instance-updated': (e) => instanceEvent('instance-updated', e.key, e.record),
  'instance-deregistered': (e) => ({
    type: e.cause === 'expired' ? 'instance-expired' : 'instance-deregistered',
    scope: scopeOf(e.instance, e.key),
    data: { key: e.key, instance: idOf(e.instance) },
  }),
  'health-changed': (e) => ({
    type: 'health-changed',
    scope: scopeOf(e.record.instance, e.key),
    data: {
      key: e.key,
      instance: idOf(e.record.instance),
      healthy: e.change.to,
      from: e.change.from,
      reason: e.change.reason,
      decidedBy: e.change.decidedBy,
      version: e.change.version,
      at: e.change.at,
      override: e.record.health.override ?? null,
      lastProbe: probeOf(e.record.lastProbe),
    },
  }),
  'override-changed': (e) => ({
    type: e.record.health.override ? 'override-set' : 'override-cleared',
    scope: scopeOf(e.record.instance, e.key),
    data: { key: e.key, instance: idOf(e.record.instance), healthy: e.record.health.healthy, override: e.record.health.override ?? null, version: e.record.health.version },
  }),
  'checker-config-changed': (e) => ({
    type: 'checker-config-changed',
    data: { key: e.key, scope: e.scope, type: e.config?.type ?? null },
  }),
  'whitelist-changed': (e) => ({
    type: e.removed ? 'whitelist-removed' : 'whitelist-added',
    data: { entry: e.entry },
  }),
  'switch-changed': (e) => ({ type: 'switch-changed', data: { name: e.name, value: e.value } }),
  'primary-changed': (e) => ({
    type: 'primary-changed',
    scope: { namespace: e.service.namespace, service: groupedName(e.service), kind: 'persistent' },
    data: { service: e.service, from: e.from, to: e.to, reason: e.reason, version: e.version, at: e.at },
  }),
  'split-brain': (e) => ({
    type: e.what === 'raised' ? 'split-brain-raised' : 'split-brain-cleared',
    scope: { namespace: e.service.namespace, service: groupedName(e.service), kind: 'persistent' },
    data: { service: e.service, candidates: e.candidates, version: e.version, at: e.at },
  }),
  'role-changed': (e) => ({
    type: 'role-changed',
    scope: scopeOf(e.instance, e.key),
    data: { key: e.key, instance: idOf(e.instance), from: e.from, to: e.to, at: e.at },
  }),
  'member-changed': (e) => ({
    type: e.what === 'up' ? 'member-up' : 'member-down',
    data: { nodeId: e.nodeId, url: e.url, reason: e.reason, lastSeen: e.lastSeen, at: e.at, observedBy: e.observedBy },
  }),
  'beat-protection': (e) => ({
    type: e.what === 'stall-compensated' ? 'stall-compensated' : e.what === 'engaged' ? 'self-preservation-on' : 'self-preservation-off',
    data: { what: e.what, reason: e.reason, at: e.at, detail: e.detail },
  }),
};

/** Every event name the table can produce (for validating filters and webhook configs). */
export const EVENT_TYPES: readonly string[] = [
  'instance-registered',
  'instance-updated',
  'instance-deregistered',
  'instance-expired',
  'health-changed',
  'override-set',
  'override-cleared',
  'checker-config-changed',
  'whitelist-added',
  'whitelist-removed',
  'switch-changed',
  'primary-changed',
  'split-brain-raised',
  'split-brain-cleared',
  'role-changed',
  'self-preservation-on',
  'self-preservation-off',
  'stall-compensated',
  'member-up',
  'member-down',
];

export function mapEvent(e: RegistryEvent): MappedEvent | undefined {
  return (EVENT_TABLE[e.type] as (e: RegistryEvent) => MappedEvent | undefined)(e);
}
