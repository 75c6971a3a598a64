/** The native JSON API under /v1: instances with health records, checker configs, whitelist, overrides. */
import { ADMIN, PUBLIC, READ, WRITE } from './access.js';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { ACTIVE_CHECKS_SWITCH, type Scheduler } from '../health/scheduler.js';
import { setOverride } from '../health/state-machine.js';
import { validateEntry } from '../health/whitelist.js';
import { DEFAULT_GROUP, DEFAULT_NAMESPACE, instanceKey } from '../registry/model.js';
import { instanceIdShape, nameSchema, parseCheckerConfig, parseInstance, parseOrThrow, portSchema, type CheckerPolicy, type ValidationLimits } from '../registry/validate.js';
import { DEFAULT_PAGE, instancePage, MAX_PAGE } from './instance-page.js';
import { createListingGate } from './listing-gate.js';
import { checkerView, instanceView, type ViewDeps } from './views.js';

export interface NativeDeps extends ViewDeps {
  readonly scheduler: Scheduler;
  readonly limits: ValidationLimits;
  /** Checker configs here come from the API: no file or env options, credentials by name only. */
  readonly policy: CheckerPolicy;
  /** Listings built at once (server.listingConcurrency); the rest wait. */
  readonly listingConcurrency?: number;
  /**
   * Cluster mode: sends a write on an ephemeral instance to its responsible node and relays the
   * answer; false when this node answers itself (cluster/ephemeral-forward.ts).
   */
  readonly forward?: (key: string, req: FastifyRequest, reply: FastifyReply) => Promise<boolean>;
}

const serviceSel = {
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  group: nameSchema.default(DEFAULT_GROUP),
};
const portish = z.union([portSchema, z.string().regex(/^\d+$/).transform(Number).pipe(portSchema)]);
const instanceSel = z.object({ ...instanceIdShape, port: portish });
const listQuery = z.object({
  namespace: nameSchema.optional(),
  group: nameSchema.optional(),
  service: nameSchema.optional(),
  cluster: nameSchema.optional(),
  healthy: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  kind: z.enum(['persistent', 'ephemeral']).optional(),
  limit: z.string().regex(/^\d{1,6}$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(1).max(MAX_PAGE)).optional(),
  cursor: z.string().min(1).max(1024).optional(),
});
const checkerBody = z.strictObject({ ...serviceSel, service: nameSchema, cluster: nameSchema.optional(), checker: z.unknown().nullable() });
const overrideBody = z.strictObject({
  ...instanceIdShape,
  healthy: z.boolean(),
  ttlMs: z.number().int().positive().optional(),
  reason: z.string().max(500).optional(),
  by: z.string().max(100).optional(),
});
const switchesBody = z.strictObject({ activeChecks: z.boolean().optional() });

export function registerNativeRoutes(app: FastifyInstance, deps: NativeDeps): void {
  const { registry, checkers } = deps;
  const view = (key: string) => {
    const rec = registry.get(key);
    if (!rec) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${key}`, 'instance');
    return instanceView(deps, rec);
  };

  app.get('/healthz', PUBLIC, async () => ({ status: 'ok', instances: registry.size, probeTasks: deps.scheduler.stats.tasks }));

  app.get('/v1/checkers', READ, async () => ({
    checkers: checkers.list().map(({ checker, source }) => ({ type: checker.type, source, description: checker.description ?? '', options: checkers.describe(checker.type) })),
  }));

  // Ephemeral instances are decided by their responsible node, as on the Nacos routes: a change made
  // elsewhere is stamped under epoch 0 and loses to that node's copy (ephemeral-replication.ts).
  const forwarded = async (ephemeral: boolean, key: string, req: FastifyRequest, reply: FastifyReply): Promise<boolean> =>
    ephemeral && deps.forward !== undefined && (await deps.forward(key, req, reply));

  app.post('/v1/instances', WRITE, async (req, reply) => {
    const inst = parseInstance(checkers, req.body ?? {}, deps.limits, deps.policy, deps.now());
    if (await forwarded(inst.ephemeral, instanceKey(inst), req, reply)) return reply;
    const { created } = registry.register(inst);
    await registry.committed();
    return reply.code(created ? 201 : 200).send(view(instanceKey(inst)));
  });

  app.put('/v1/instances', WRITE, async (req, reply) => {
    const inst = parseInstance(checkers, req.body ?? {}, deps.limits, deps.policy, deps.now());
    if (await forwarded(inst.ephemeral, instanceKey(inst), req, reply)) return reply;
    if (!registry.find(inst)) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${instanceKey(inst)} to update`, 'instance');
    registry.register(inst);
    await registry.committed();
    return view(instanceKey(inst));
  });

  app.delete('/v1/instances', WRITE, async (req, reply) => {
    const id = parseOrThrow(instanceSel, { ...(req.query as object), ...((req.body as object | undefined) ?? {}) });
    // The selector names no kind: an instance unknown here may be an ephemeral one whose
    // registration has not been replicated yet, so only a known persistent one stays here.
    if (await forwarded(registry.find(id)?.instance.ephemeral !== false, instanceKey(id), req, reply)) return reply;
    const removed = registry.deregister(id);
    if (!removed) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${instanceKey(id)}`, 'instance');
    await registry.committed();
    return { deleted: instanceKey(id) };
  });

  const listings = createListingGate(deps.listingConcurrency ?? 2);
  app.get('/v1/instances', READ, async (req, reply) => {
    const { limit, cursor, ...filter } = parseOrThrow(listQuery, req.query);
    const page = instancePage(registry, stripUndef(filter), cursor, limit ?? DEFAULT_PAGE);
    const body = await listings.json('instances', page.records, ({ record }) => instanceView(deps, record), { nextCursor: page.nextCursor });
    return reply.type('application/json; charset=utf-8').send(body);
  });

  app.get('/v1/services', READ, async () => ({
    services: registry.services().map((s) => {
      const recs = registry.serviceInstances(s);
      return { ...s, instances: recs.length, healthy: recs.filter((r) => r.health.healthy).length };
    }),
  }));

  app.put('/v1/checker-configs', WRITE, async (req) => {
    const body = parseOrThrow(checkerBody, req.body ?? {});
    const scope = stripUndef({ namespace: body.namespace, group: body.group, service: body.service, cluster: body.cluster });
    const config = body.checker === null ? null : parseCheckerConfig(checkers, body.checker, deps.policy);
    registry.setCheckerConfig(scope, config);
    await registry.committed();
    return { scope, checker: config && checkerView(checkers, config) };
  });

  app.get('/v1/checker-configs', READ, async () => ({
    checkerConfigs: registry.checkerConfigs().map((c) => ({ scope: c.scope, checker: checkerView(checkers, c.config) })),
    default: checkerView(checkers, deps.defaultChecker),
  }));

  app.get('/v1/whitelist', READ, async () => ({ entries: registry.whitelist() }));

  app.post('/v1/whitelist', WRITE, async (req, reply) => {
    const parsed = validateEntry(req.body ?? {});
    if (!parsed.ok) throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `${parsed.field}: ${parsed.message}`, parsed.field);
    const entry = { ...parsed.value, id: randomUUID(), createdAt: deps.now() };
    registry.putWhitelist(entry);
    await registry.committed();
    return reply.code(201).send(entry);
  });

  app.delete<{ Params: { id: string } }>('/v1/whitelist/:id', WRITE, async (req) => {
    const entry = registry.removeWhitelist(req.params.id);
    if (!entry) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no whitelist entry ${req.params.id}`, 'id');
    await registry.committed();
    return { deleted: entry.id };
  });

  app.put('/v1/overrides', WRITE, async (req, reply) => {
    const body = parseOrThrow(overrideBody, req.body ?? {});
    const key = instanceKey(body);
    const rec = registry.get(key);
    if (await forwarded(rec?.instance.ephemeral !== false, key, req, reply)) return reply;
    if (!rec) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${key}`, 'instance');
    const now = deps.now();
    const override = stripUndef({ healthy: body.healthy, until: body.ttlMs === undefined ? undefined : now + body.ttlMs, by: body.by, reason: body.reason });
    const { state, change } = setOverride(rec.health, override, now);
    registry.setHealth(key, state, change);
    // Cluster mode: answered once published (any node: the store replays it on the stored record).
    await registry.committed();
    return view(key);
  });

  app.delete('/v1/overrides', WRITE, async (req, reply) => {
    const id = parseOrThrow(instanceSel, { ...(req.query as object), ...((req.body as object | undefined) ?? {}) });
    const key = instanceKey(id);
    const rec = registry.get(key);
    if (await forwarded(rec?.instance.ephemeral !== false, key, req, reply)) return reply;
    if (!rec) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no instance ${key}`, 'instance');
    const { state, change } = setOverride(rec.health, null, deps.now());
    registry.setHealth(key, state, change);
    // Cluster mode: answered once published (any node: the store replays it on the stored record).
    await registry.committed();
    return view(key);
  });

  app.get('/v1/switches', READ, async () => ({ activeChecks: registry.getSwitch(ACTIVE_CHECKS_SWITCH) !== false }));

  app.put('/v1/switches', ADMIN, async (req) => {
    const body = parseOrThrow(switchesBody, req.body ?? {});
    if (body.activeChecks !== undefined) registry.setSwitch(ACTIVE_CHECKS_SWITCH, body.activeChecks);
    await registry.committed();
    return { activeChecks: registry.getSwitch(ACTIVE_CHECKS_SWITCH) !== false };
  });
}

export function stripUndef<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
