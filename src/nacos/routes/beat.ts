/**
 * `PUT instance/beat`, the hot path. A beat names its instance by the `beat` JSON (full beat, what
 * the npm client sends) or by ip/port/clusterName (light beat). Known ephemeral instance: refresh.
 * Unknown: a light beat gets code 20404; a full beat registers the instance again from its body,
 * because the npm client ignores 20404 and would otherwise never come back (seed 000).
 */
import { WRITE } from '../../api/access.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { instanceKey, type InstanceId } from '../../registry/model.js';
import type { NacosContext } from '../context.js';
import { makeInstance } from '../instances.js';
import { ADDRESS, documentSchemas, SERVICE, serviceRef, type BeatBody, type ServiceRef } from '../param-schemas.js';
import { paramsOf, readParams } from '../params.js';

export const CODE_OK = 10200;
export const CODE_NOT_FOUND = 20404;

export function registerBeatRoute(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, beats } = ctx;
  const FULL = { ...SERVICE, beat: documentSchemas(ctx.instances.limits).beat.optional() };

  const answer = (reply: FastifyReply, code: number, interval: number): FastifyReply =>
    reply
      .type('application/json; charset=utf-8')
      .send(`{"clientBeatInterval":${interval},"code":${code},"lightBeatEnabled":${beats.settings().lightBeatEnabled}}`);

  const reRegister = (svc: ServiceRef, id: InstanceId, body: BeatBody): void => {
    const inst = makeInstance(
      { ...id, weight: body.weight ?? 1, enabled: true, ephemeral: true, metadata: body.metadata ?? {} },
      ctx.instances,
      ctx.now(),
      'beat',
    );
    registry.register(inst);
    ctx.counters.reregistered++;
    ctx.logger.info({ service: svc.raw, ip: id.ip, port: id.port, cluster: id.cluster }, 'beat from an unknown instance: registered it again');
  };

  app.put(`${base}/instance/beat`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const v = readParams(p, FULL);
    const svc = serviceRef(v);
    const body = v.beat;
    // A light beat names its instance by ip/port/clusterName, read only when no `beat` came.
    const light = body ? undefined : readParams(p, ADDRESS);
    const id: InstanceId = body
      ? { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: body.cluster, ip: body.ip, port: body.port }
      : { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: light!.clusterName, ip: light!.ip, port: light!.port };
    const key = instanceKey(id);
    if (ctx.forward && (await ctx.forward(key, req, reply))) return reply;
    if (beats.beat(key)) return answer(reply, CODE_OK, beats.intervalFor(key));
    // A persistent instance is probed, not beaten: nothing to do.
    if (registry.peek(key)) return answer(reply, CODE_OK, beats.intervalFor(undefined));
    if (!body) {
      ctx.counters.unknownBeats++;
      return answer(reply, CODE_NOT_FOUND, beats.intervalFor(undefined));
    }
    reRegister(svc, id, body);
    return answer(reply, CODE_OK, beats.intervalFor(key));
  });
}
