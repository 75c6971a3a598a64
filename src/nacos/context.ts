/** What the Nacos routes share: their dependencies, counters and the list rendering. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CheckerPolicy } from '../registry/validate.js';
import type { Logger } from 'pino';
import type { BeatModule } from '../beat/beat-module.js';
import type { Config } from '../config/schema.js';
import type { CheckerRegistry } from '../health/checker-registry.js';
import { instanceKey, type InstanceRecord, type ServiceId } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import type { InstanceFactoryDeps } from './instances.js';
import type { Push } from './push.js';
import type { ServiceStore } from './service-store.js';
import type { Subscribers } from './subscribers.js';
import { listView, selectHosts, type ListRequest, type ListView, type RoleMeta } from './views.js';

export type NacosConfig = Config['nacos'];

export interface NacosCounters {
  /** Full beats from instances vigil did not know, registered again from the beat. */
  reregistered: number;
  /** Light beats from unknown instances (answered 20404). */
  unknownBeats: number;
}

export interface NacosContext {
  readonly registry: Registry;
  readonly checkers: CheckerRegistry;
  readonly beats: BeatModule;
  readonly services: ServiceStore;
  readonly subscribers: Subscribers;
  readonly push: Push | undefined;
  readonly instances: InstanceFactoryDeps;
  readonly config: NacosConfig;
  readonly now: () => number;
  readonly logger: Logger;
  readonly counters: NacosCounters;
  /** Checker configs from `PUT cluster` come from the API: no file or env options. */
  readonly policy: CheckerPolicy;
  /** The role of an instance by its key (the primaries tracker), shown in its metadata. */
  readonly roleOf?: ((key: string) => RoleMeta | undefined) | undefined;
  /**
   * Cluster mode: sends an ephemeral write for `key` to its responsible node and relays the answer
   * (cluster/ephemeral-forward.ts); false when this node answers itself.
   */
  readonly forward?: ((key: string, req: FastifyRequest, reply: FastifyReply) => Promise<boolean>) | undefined;
}

/** The `instance/list` document for one request (also what a UDP push carries). */
export function renderList(ctx: NacosContext, service: ServiceId, request: ListRequest): ListView {
  const threshold = ctx.services.get(service)?.protectThreshold ?? 0;
  const selected = selectHosts(ctx.registry.serviceInstances(service), request.clusters, request.healthyOnly, threshold);
  const roleOf = ctx.roleOf;
  const roles = roleOf && ((rec: InstanceRecord) => roleOf(instanceKey(rec.instance)));
  return listView(request, selected, (rec) => ctx.beats.timeoutsOf(instanceKey(rec.instance)), ctx.config.cacheMillis, ctx.now(), roles);
}
