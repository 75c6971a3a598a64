/**
 * Probe history: `GET /v1/instances/{instanceId}/history` for one instance (instanceId as Nacos
 * writes it, `ip#port#cluster#group@@service`, URL-encoded) and `GET /v1/history` for every
 * instance of a selection at once (the status page's heartbeat bars in one request).
 */
import type { FastifyInstance } from 'fastify';
import { READ } from './access.js';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import type { History } from '../observe/history.js';
import { DEFAULT_NAMESPACE, instanceKey, splitServiceName } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import { ipSchema, nameSchema, parseOrThrow, portSchema } from '../registry/validate.js';

export interface HistoryRouteDeps {
  readonly registry: Registry;
  readonly history: History;
  readonly now: () => number;
}

const last = z.string().regex(/^\d{1,5}$/).transform(Number).pipe(z.number().int().min(1)).optional();
const oneQuery = z.strictObject({ namespace: nameSchema.default(DEFAULT_NAMESPACE), last });
const listQuery = z.strictObject({ namespace: nameSchema.optional(), group: nameSchema.optional(), service: nameSchema.optional(), cluster: nameSchema.optional(), last });

/** `ip#port#cluster#group@@service` → the instance's fields, each validated. */
export function parseInstanceId(raw: string, namespace: string) {
  const parts = raw.split('#');
  if (parts.length !== 4) throw new VigilError('VIGIL_ERR_REQUEST_INVALID', 'instanceId must be ip#port#cluster#group@@service', 'instanceId');
  const [ip, port, cluster, grouped] = parts as [string, string, string, string];
  const { group, service } = splitServiceName(grouped);
  return {
    namespace,
    ip: parseOrThrow(ipSchema, ip, 'instanceId.ip'),
    port: parseOrThrow(portSchema, /^\d+$/.test(port) ? Number(port) : NaN, 'instanceId.port'),
    cluster: parseOrThrow(nameSchema, cluster, 'instanceId.cluster'),
    group: parseOrThrow(nameSchema, group, 'instanceId.group'),
    service: parseOrThrow(nameSchema, service, 'instanceId.service'),
  };
}

export function registerHistoryRoutes(app: FastifyInstance, deps: HistoryRouteDeps): void {
  const { registry, history } = deps;
  const empty = { results: [], uptime: { '24h': null, '7d': null, '30d': null }, latencyMs: null };

  app.get<{ Params: { instanceId: string } }>('/v1/instances/:instanceId/history', READ, async (req) => {
    const q = parseOrThrow(oneQuery, req.query);
    const key = instanceKey(parseInstanceId(req.params.instanceId, q.namespace));
    if (!registry.peek(key)) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${key}`, 'instanceId');
    return { key, ...(history.summary(key, deps.now(), q.last) ?? empty) };
  });

  app.get('/v1/history', READ, async (req) => {
    const q = parseOrThrow(listQuery, req.query);
    const { last: n, ...filter } = q;
    const now = deps.now();
    return {
      instances: registry.list(Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined))).map((r) => {
        const key = instanceKey(r.instance);
        return { key, ...(history.summary(key, now, n) ?? empty) };
      }),
    };
  });
}
