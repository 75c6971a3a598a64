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
import { instancePage } from './instance-page.js';
import { stripUndef } from './native.js';
import { ipSchema, nameSchema, parseOrThrow, portSchema } from '../registry/validate.js';

export interface HistoryRouteDeps {
  readonly registry: Registry;
  readonly history: History;
  readonly now: () => number;
}

/** Results per page (one instance) and instances per page (`/v1/history`): one answer stays bounded. */
export const HISTORY_PAGE = 100;
export const MAX_HISTORY_PAGE = 1000;

const count = z.string().regex(/^\d{1,6}$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(1).max(MAX_HISTORY_PAGE)).optional();
/** A result's sequence number, as `nextCursor` gave it. */
const resultCursor = z.string().regex(/^[1-9]\d{0,14}$/, 'must be a nextCursor of this history').transform(Number).optional();
const oneQuery = z
  .strictObject({ namespace: nameSchema.default(DEFAULT_NAMESPACE), limit: count, last: count, cursor: resultCursor })
  // `last` is the older name of `limit`; both at once would be ambiguous.
  .refine((q) => q.limit === undefined || q.last === undefined, { message: 'give limit or last, not both', path: ['last'] });
const listQuery = z.strictObject({
  namespace: nameSchema.optional(),
  group: nameSchema.optional(),
  service: nameSchema.optional(),
  cluster: nameSchema.optional(),
  last: count,
  limit: count,
  cursor: z.string().min(1).max(1024).optional(),
});

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

  // Newest results first by page: `nextCursor` leads to the older ones while the ring holds any.
  app.get<{ Params: { instanceId: string } }>('/v1/instances/:instanceId/history', READ, async (req) => {
    const q = parseOrThrow(oneQuery, req.query);
    const key = instanceKey(parseInstanceId(req.params.instanceId, q.namespace));
    if (!registry.peek(key)) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${key}`, 'instanceId');
    let s;
    try {
      s = history.summary(key, deps.now(), q.limit ?? q.last ?? HISTORY_PAGE, q.cursor);
    } catch (err) {
      if (err instanceof RangeError) throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `cursor: ${err.message}`, 'cursor');
      throw err;
    }
    if (!s) {
      if (q.cursor !== undefined && q.cursor > 1) throw new VigilError('VIGIL_ERR_REQUEST_INVALID', 'cursor: not a position of this history', 'cursor');
      return { key, ...empty, nextCursor: null };
    }
    const { older, ...summary } = s;
    return { key, ...summary, nextCursor: older === null ? null : String(older) };
  });

  // Instances by key, paged like GET /v1/instances; each with its newest `last` results.
  app.get('/v1/history', READ, async (req) => {
    const { last: n, limit, cursor, ...filter } = parseOrThrow(listQuery, req.query);
    const now = deps.now();
    const page = instancePage(registry, stripUndef(filter), cursor, limit ?? HISTORY_PAGE);
    return {
      instances: page.records.map(({ key }) => {
        const s = history.summary(key, now, n ?? HISTORY_PAGE);
        if (!s) return { key, ...empty };
        const { older: _older, ...summary } = s;
        return { key, ...summary };
      }),
      nextCursor: page.nextCursor,
    };
  });
}
