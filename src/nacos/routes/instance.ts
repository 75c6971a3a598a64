/**
 * `instance` (POST register, DELETE deregister, PUT update, GET detail), `instance/list` and
 * `health/instance`. Every parameter is read and checked before the registry is touched.
 */
import { READ, WRITE } from '../../api/access.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { VigilError } from '../../errors.js';
import { setOverride } from '../../health/state-machine.js';
import { instanceKey, type Instance, type InstanceId } from '../../registry/model.js';
import type { NacosContext } from '../context.js';
import { renderList } from '../context.js';
import { makeInstance } from '../instances.js';
import { bool, clusterList, documentSchemas, INSTANCE, intIn, serviceRef, SERVICE, weight } from '../param-schemas.js';
import { readParams, type ParamValues } from '../params.js';
import { detailView, type ListRequest } from '../views.js';

export const ok = (reply: FastifyReply): FastifyReply => reply.type('text/plain; charset=utf-8').send('ok');

export function instanceIdOf(v: ParamValues<typeof INSTANCE>): InstanceId {
  const svc = serviceRef(v);
  return { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: v.clusterName, ip: v.ip, port: v.port };
}

/** Nacos keeps ephemeral and persistent instances apart; vigil refuses to turn one into the other. */
export function checkSameKind(existing: Instance | undefined, ephemeral: boolean): void {
  if (existing && existing.ephemeral !== ephemeral) {
    const kind = existing.ephemeral ? 'ephemeral' : 'persistent';
    throw new VigilError('VIGIL_ERR_CONFLICT', `Param 'ephemeral' is invalid: ${existing.ip}:${existing.port} is registered as ${kind}; deregister it first.`, 'ephemeral');
  }
}

export function registerInstanceRoutes(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, beats } = ctx;

  const notFound = (id: InstanceId): VigilError =>
    new VigilError('VIGIL_ERR_NOT_FOUND', `instance not found: ${id.ip}:${id.port} in cluster ${id.cluster} of ${id.group}@@${id.service}`, 'ip');

  const docs = documentSchemas(ctx.instances.limits);
  // `enable` is what the npm client sends, `enabled` what the Java SDK and the docs say: both count.
  const REGISTER = { ...INSTANCE, weight: weight.default(1), enabled: bool.optional(), enable: bool.optional(), ephemeral: bool.default(true), healthy: bool.optional(), metadata: docs.metadata.default({}) };
  const DEREGISTER = { ...INSTANCE, ephemeral: bool.default(true) };
  const UPDATE = { ...INSTANCE, weight: weight.optional(), enabled: bool.optional(), enable: bool.optional(), metadata: docs.metadata.optional(), ephemeral: bool.optional() };
  const LIST = { ...SERVICE, clusters: clusterList.default(''), healthyOnly: bool.default(false), udpPort: intIn(0, 65535).optional() };

  app.post(`${base}/instance`, WRITE, async (req, reply) => {
    const v = readParams(req, REGISTER);
    const id = instanceIdOf(v);
    const inst = makeInstance(
      {
        ...id,
        weight: v.weight,
        enabled: v.enabled ?? v.enable ?? true,
        ephemeral: v.ephemeral,
        metadata: v.metadata,
        ...(v.healthy !== undefined ? { initialHealthy: v.healthy } : {}),
      },
      ctx.instances,
      ctx.now(),
    );
    if (v.ephemeral && ctx.forward && (await ctx.forward(instanceKey(inst), req, reply))) return reply;
    checkSameKind(registry.find(id)?.instance, v.ephemeral);
    registry.register(inst);
    // Registering is a sign of life: an unhealthy ephemeral instance registered again is healthy.
    if (v.ephemeral) beats.beat(instanceKey(inst));
    await registry.committed();
    return ok(reply);
  });

  app.delete(`${base}/instance`, WRITE, async (req, reply) => {
    const v = readParams(req, DEREGISTER);
    const id = instanceIdOf(v);
    if (v.ephemeral && ctx.forward && (await ctx.forward(instanceKey(id), req, reply))) return reply;
    const existing = registry.find(id)?.instance;
    // Persistent instances go only with ephemeral=false; an unknown instance is gone already: ok.
    if (existing && existing.ephemeral === v.ephemeral) registry.deregister(id);
    else if (existing) ctx.logger.info({ instance: instanceKey(id), ephemeral: v.ephemeral }, 'deregister ignored: the instance is of the other kind');
    await registry.committed();
    return ok(reply);
  });

  app.put(`${base}/instance`, WRITE, async (req, reply) => {
    const v = readParams(req, UPDATE);
    const id = instanceIdOf(v);
    const rec = registry.find(id);
    // An ephemeral instance, or one not known here yet (its registration may not have been
    // replicated), is updated by its responsible node: a change decided here would lose to its copy.
    if (ctx.forward && (rec?.instance.ephemeral ?? v.ephemeral ?? true) && (await ctx.forward(instanceKey(id), req, reply))) return reply;
    if (!rec) throw notFound(id);
    const cur = rec.instance;
    checkSameKind(cur, v.ephemeral ?? cur.ephemeral);
    // Unlike Nacos, parameters left out keep their value instead of falling back to defaults.
    const next = makeInstance(
      { ...cur, weight: v.weight ?? cur.weight, enabled: v.enabled ?? v.enable ?? cur.enabled, metadata: v.metadata ?? cur.metadata },
      ctx.instances,
      cur.registeredAt,
    );
    registry.register(next);
    await registry.committed();
    return ok(reply);
  });

  app.get(`${base}/instance`, READ, async (req) => {
    const id = instanceIdOf(readParams(req, INSTANCE));
    const rec = registry.find(id);
    if (!rec) throw notFound(id);
    return detailView(rec, ctx.roleOf?.(instanceKey(rec.instance)));
  });

  app.get(`${base}/instance/list`, READ, async (req) => {
    const v = readParams(req, LIST);
    const svc = serviceRef(v);
    const request: ListRequest = { name: svc.raw, group: svc.group, clusters: v.clusters, healthyOnly: v.healthyOnly };
    const address = req.socket.remoteAddress;
    // Pushes go to the address this request came from; the clientIP parameter is never used.
    if (ctx.push && v.udpPort !== undefined && v.udpPort > 0 && address !== undefined) {
      ctx.subscribers.touch(svc, request, address, v.udpPort, ctx.now());
    }
    return renderList(ctx, svc, request);
  });

  app.put(`${base}/health/instance`, WRITE, async (req, reply) => {
    const v = readParams(req, { ...INSTANCE, healthy: bool });
    const id = instanceIdOf(v);
    const key = instanceKey(id);
    const rec = registry.get(key);
    // On an ephemeral instance the word goes to its responsible node, which replicates it.
    if (ctx.forward && rec?.instance.ephemeral !== false && (await ctx.forward(key, req, reply))) return reply;
    if (!rec) throw notFound(id);
    // An operator's word: it holds until cleared (DELETE /v1/overrides), as in the native API.
    const { state, change } = setOverride(rec.health, { healthy: v.healthy, by: 'nacos', reason: 'set by PUT /nacos/v1/ns/health/instance' }, ctx.now());
    registry.setHealth(key, state, change);
    await registry.committed();
    return ok(reply);
  });
}
