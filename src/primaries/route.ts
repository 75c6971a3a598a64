/**
 * `GET /v1/services/{service}/primary`: 200 with the one writable instance, 409 listing every
 * writable candidate on a split brain, 503 with `VIGIL_ERR_PRIMARY_NONE` and the reason when none
 * is writable, 404 for a service without instances. `?wait=MS&version=V` long-polls: it answers as
 * soon as the answer's version differs from V, or with 304 (no body) when `wait` runs out first.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ErrorCodes, VigilError } from '../errors.js';
import { DEFAULT_GROUP, DEFAULT_NAMESPACE, instanceKey, type InstanceRecord, type ServiceId } from '../registry/model.js';
import { READ } from '../api/access.js';
import { nameSchema, parseOrThrow } from '../registry/validate.js';
import type { PrimaryTracker, PrimaryView } from './tracker.js';

export interface PrimaryRouteDeps {
  readonly tracker: PrimaryTracker;
  /** How an instance is shown (the native instance view). */
  readonly view: (rec: InstanceRecord) => Record<string, unknown>;
  /** The longest `wait` accepted, in ms. */
  readonly maxWaitMs: number;
}

const VERSION = /^[A-Za-z0-9_-]{0,64}$/;

function querySchema(maxWaitMs: number) {
  return z.strictObject({
    namespace: nameSchema.default(DEFAULT_NAMESPACE),
    group: nameSchema.default(DEFAULT_GROUP),
    cluster: nameSchema.optional(),
    wait: z.string().regex(/^\d{1,9}$/, 'must be a whole number of milliseconds').transform(Number).pipe(z.number().max(maxWaitMs, `must be at most ${maxWaitMs}`)).optional(),
    version: z.string().regex(VERSION, 'must be a version this endpoint answered').optional(),
    // Credentials a client may send in the query (the access gate reads them; docs/security.md).
    accessToken: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
  });
}

export function registerPrimaryRoute(app: FastifyInstance, deps: PrimaryRouteDeps): void {
  const { tracker } = deps;
  const query = querySchema(deps.maxWaitMs);

  const current = (sid: ServiceId, cluster: string | undefined): PrimaryView => {
    const found = tracker.answer(sid, cluster);
    if (!found) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance of service ${sid.service}${cluster === undefined ? '' : ` in cluster ${cluster}`}`, 'service');
    return found;
  };

  app.get<{ Params: { service: string } }>('/v1/services/:service/primary', READ, async (req, reply) => {
    const service = parseOrThrow(nameSchema, req.params.service, 'service');
    const q = parseOrThrow(query, req.query);
    const sid = { namespace: q.namespace, group: q.group, service };
    let found = current(sid, q.cluster);
    if (q.wait !== undefined && q.wait > 0 && q.version === found.answer.version) {
      // Ends the wait when the client goes away, so no waiter outlives its request.
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const until = Date.now() + q.wait;
      while (found.answer.version === q.version) {
        const left = until - Date.now();
        if (left <= 0 || !(await tracker.changed(sid, left, gone.signal))) break;
        found = current(sid, q.cluster);
      }
      if (found.answer.version === q.version) return reply.code(304).header('etag', `"${found.answer.version}"`).send();
    }
    return send(reply, sid, q.cluster, found, deps);
  });
}

function send(reply: FastifyReply, sid: ServiceId, cluster: string | undefined, found: PrimaryView, deps: PrimaryRouteDeps): FastifyReply {
  const { answer, records } = found;
  const byKey = (keys: readonly string[]) => keys.map((k) => records.find((r) => instanceKey(r.instance) === k)).filter((r): r is InstanceRecord => r !== undefined).map(deps.view);
  const head = { ...sid, ...(cluster === undefined ? {} : { cluster }), version: answer.version };
  reply.header('etag', `"${answer.version}"`);
  if (answer.kind === 'one') {
    const [primary] = byKey([answer.primary]);
    return reply.code(200).send({ ...head, primary, splitBrain: false, candidates: [primary] });
  }
  if (answer.kind === 'split') {
    const code = 'VIGIL_ERR_PRIMARY_SPLIT_BRAIN';
    const message = `${answer.candidates.length} instances of ${sid.service} are writable: refusing to name one`;
    return reply.code(409).send({ code, message, field: 'service', ...head, primary: null, splitBrain: true, candidates: byKey(answer.candidates) });
  }
  const code = 'VIGIL_ERR_PRIMARY_NONE';
  return reply.code(503).send({
    code,
    message: `${ErrorCodes[code]}: ${answer.reason}`,
    field: 'service',
    reason: answer.reason,
    ...head,
    primary: null,
    splitBrain: false,
    candidates: [],
    instances: records.map((r) => {
      const role = deps.tracker.roleOf(instanceKey(r.instance));
      return { cluster: r.instance.cluster, ip: r.instance.ip, port: r.instance.port, healthy: r.health.healthy, role: role?.role ?? 'unknown' };
    }),
  });
}
