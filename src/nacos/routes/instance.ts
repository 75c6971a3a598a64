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
import {
  boolOf,
  clusterOf,
  invalid,
  ipOf,
  isName,
  optionalBool,
  optionalEnabled,
  optionalInt,
  optionalMetadata,
  optionalWeight,
  paramsOf,
  portOf,
  required,
  serviceOf,
  type Params,
} from '../params.js';
import { detailView, type ListRequest } from '../views.js';

export const ok = (reply: FastifyReply): FastifyReply => reply.type('text/plain; charset=utf-8').send('ok');

export function instanceIdOf(p: Params): InstanceId {
  const svc = serviceOf(p);
  return { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: clusterOf(p), ip: ipOf(p), port: portOf(p) };
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

  app.post(`${base}/instance`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const id = instanceIdOf(p);
    const ephemeral = boolOf(p, 'ephemeral', true);
    const healthy = optionalBool(p, 'healthy');
    const inst = makeInstance(
      {
        ...id,
        weight: optionalWeight(p) ?? 1,
        enabled: optionalEnabled(p) ?? true,
        ephemeral,
        metadata: optionalMetadata(p) ?? {},
        ...(healthy !== undefined ? { initialHealthy: healthy } : {}),
      },
      ctx.instances,
      ctx.now(),
    );
    if (ephemeral && ctx.forward && (await ctx.forward(instanceKey(inst), req, reply))) return reply;
    checkSameKind(registry.find(id)?.instance, ephemeral);
    registry.register(inst);
    // Registering is a sign of life: an unhealthy ephemeral instance registered again is healthy.
    if (ephemeral) beats.beat(instanceKey(inst));
    await registry.committed();
    return ok(reply);
  });

  app.delete(`${base}/instance`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const id = instanceIdOf(p);
    const ephemeral = boolOf(p, 'ephemeral', true);
    if (ephemeral && ctx.forward && (await ctx.forward(instanceKey(id), req, reply))) return reply;
    const existing = registry.find(id)?.instance;
    // Persistent instances go only with ephemeral=false; an unknown instance is gone already: ok.
    if (existing && existing.ephemeral === ephemeral) registry.deregister(id);
    else if (existing) ctx.logger.info({ instance: instanceKey(id), ephemeral }, 'deregister ignored: the instance is of the other kind');
    await registry.committed();
    return ok(reply);
  });

  app.put(`${base}/instance`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const id = instanceIdOf(p);
    const weight = optionalWeight(p);
    const enabled = optionalEnabled(p);
    const metadata = optionalMetadata(p);
    const ephemeral = optionalBool(p, 'ephemeral');
    const rec = registry.find(id);
    if (!rec) throw notFound(id);
    const cur = rec.instance;
    checkSameKind(cur, ephemeral ?? cur.ephemeral);
    // Unlike Nacos, parameters left out keep their value instead of falling back to defaults.
    const next = makeInstance(
      { ...cur, weight: weight ?? cur.weight, enabled: enabled ?? cur.enabled, metadata: metadata ?? cur.metadata },
      ctx.instances,
      cur.registeredAt,
    );
    registry.register(next);
    await registry.committed();
    return ok(reply);
  });

  app.get(`${base}/instance`, READ, async (req) => {
    const id = instanceIdOf(paramsOf(req));
    const rec = registry.find(id);
    if (!rec) throw notFound(id);
    return detailView(rec, ctx.roleOf?.(instanceKey(rec.instance)));
  });

  app.get(`${base}/instance/list`, READ, async (req) => {
    const p = paramsOf(req);
    const svc = serviceOf(p);
    const clusters = p.clusters ?? '';
    for (const c of clusters.split(',')) if (c.trim() !== '' && !isName(c.trim())) throw invalid('clusters', 'must be cluster names separated by commas', clusters);
    const request: ListRequest = { name: svc.raw, group: svc.group, clusters, healthyOnly: boolOf(p, 'healthyOnly', false) };
    const udpPort = optionalInt(p, 'udpPort', 0, 65535);
    const address = req.socket.remoteAddress;
    // Pushes go to the address this request came from; the clientIP parameter is never used.
    if (ctx.push && udpPort !== undefined && udpPort > 0 && address !== undefined) {
      ctx.subscribers.touch(svc, request, address, udpPort, ctx.now());
    }
    return renderList(ctx, svc, request);
  });

  app.put(`${base}/health/instance`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const id = instanceIdOf(p);
    const healthy = optionalBool(p, 'healthy');
    if (healthy === undefined) required(p, 'healthy');
    const key = instanceKey(id);
    const rec = registry.get(key);
    if (!rec) throw notFound(id);
    // An operator's word: it holds until cleared (DELETE /v1/overrides), as in the native API.
    const { state, change } = setOverride(rec.health, { healthy: healthy!, by: 'nacos', reason: 'set by PUT /nacos/v1/ns/health/instance' }, ctx.now());
    registry.setHealth(key, state, change);
    await registry.committed();
    return ok(reply);
  });
}
