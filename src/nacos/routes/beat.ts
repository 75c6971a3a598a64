/**
 * `PUT instance/beat`, the hot path. A beat names its instance by the `beat` JSON (full beat, what
 * the npm client sends) or by ip/port/clusterName (light beat). Known ephemeral instance: refresh.
 * Unknown: a light beat gets code 20404; a full beat registers the instance again from its body,
 * because the npm client ignores 20404 and would otherwise never come back (seed 000).
 */
import { WRITE } from '../../api/access.js';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DEFAULT_CLUSTER, instanceKey, type InstanceId } from '../../registry/model.js';
import type { NacosContext } from '../context.js';
import { makeInstance } from '../instances.js';
import { clusterOf, invalid, ipOf, jsonObjectParam, isName, paramsOf, portOf, serviceOf, stringMap, weightValue, type ServiceRef } from '../params.js';

export const CODE_OK = 10200;
export const CODE_NOT_FOUND = 20404;

interface BeatBody {
  readonly ip: string;
  readonly port: number;
  readonly cluster: string;
  readonly weight: number | undefined;
  readonly metadata: Record<string, string> | undefined;
}

/** Parses the `beat` JSON: {serviceName, ip, port, cluster, weight, metadata, scheduled}. */
export function parseBeat(json: string): BeatBody {
  const b = jsonObjectParam(json, 'beat');
  if (typeof b.ip !== 'string' || isIP(b.ip) === 0) throw invalid('beat', 'ip must be an IPv4 or IPv6 address', String(b.ip));
  const port = typeof b.port === 'number' ? b.port : typeof b.port === 'string' && /^\d{1,5}$/.test(b.port) ? Number(b.port) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid('beat', 'port must be an integer from 1 to 65535', String(b.port));
  }
  const cluster = b.cluster === undefined || b.cluster === null || b.cluster === '' ? DEFAULT_CLUSTER : b.cluster;
  if (typeof cluster !== 'string' || !isName(cluster)) throw invalid('beat', 'cluster must be 1-128 of A-Z a-z 0-9 _ . : -', String(cluster));
  const weight = b.weight === undefined || b.weight === null ? undefined : weightValue(String(b.weight), 'beat');
  const metadata = b.metadata === undefined ? undefined : stringMap(b.metadata, 'beat');
  return { ip: b.ip, port, cluster, weight, metadata };
}

export function registerBeatRoute(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, beats } = ctx;

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
    const svc = serviceOf(p);
    const beatJson = p.beat;
    const body = beatJson === undefined || beatJson === '' ? undefined : parseBeat(beatJson);
    const id: InstanceId = body
      ? { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: body.cluster, ip: body.ip, port: body.port }
      : { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: clusterOf(p), ip: ipOf(p), port: portOf(p) };
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
