/**
 * `operator/metrics` (clients read `status === "UP"`; vigil adds its beat and self-preservation
 * state) and `operator/switches` (GET all; PUT one `entry` to one `value`). Switches are stored in
 * the registry, so they survive a restart.
 */
import { ADMIN, READ } from '../../api/access.js';
import { loadavg } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { BEAT_SWITCHES } from '../../beat/switches.js';
import { ACTIVE_CHECKS_SWITCH } from '../../health/scheduler.js';
import type { NacosContext } from '../context.js';
import { bool, intIn, MAX_SCALAR_CHARS } from '../param-schemas.js';
import { invalid, paramsOf, readParams, type Params } from '../params.js';
import { z } from 'zod';
import { HEALTH_CHECK_TIMES_SWITCH } from './cluster.js';
import { ok } from './instance.js';

type Setter = (ctx: NacosContext, p: Params) => void;

const boolSwitch = (name: string): Setter => (ctx, p) => ctx.registry.setSwitch(name, readParams(p, { value: bool }).value);

/** Nacos entry names (and vigil's own `selfPreservation`) → how to store them. */
const ENTRIES: Record<string, Setter> = {
  check: boolSwitch(ACTIVE_CHECKS_SWITCH),
  healthCheckEnabled: boolSwitch(ACTIVE_CHECKS_SWITCH),
  expireInstance: boolSwitch(BEAT_SWITCHES.expireInstance),
  lightBeatEnabled: boolSwitch(BEAT_SWITCHES.lightBeatEnabled),
  selfPreservation: boolSwitch(BEAT_SWITCHES.selfPreservation),
  clientBeatInterval(ctx, p) {
    // Clients must beat well within the heartbeat timeout, or every instance would flap.
    const max = ctx.beats.defaults().heartbeatTimeoutMs - 1;
    ctx.registry.setSwitch(BEAT_SWITCHES.clientBeatIntervalMs, readParams(p, { value: intIn(100, max) }).value);
  },
  healthCheckTimes(ctx, p) {
    ctx.registry.setSwitch(HEALTH_CHECK_TIMES_SWITCH, readParams(p, { value: intIn(1, 100) }).value);
  },
};

export function registerOperatorRoutes(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, beats } = ctx;

  const switches = (): Record<string, unknown> => {
    const s = beats.settings();
    const times = registry.getSwitch(HEALTH_CHECK_TIMES_SWITCH);
    return {
      name: '00-00---000-VIPSRV_SWITCH_DOMAIN-000---00-00',
      healthCheckEnabled: registry.getSwitch(ACTIVE_CHECKS_SWITCH) !== false,
      checkTimes: typeof times === 'number' ? times : null,
      clientBeatInterval: s.clientBeatIntervalMs,
      lightBeatEnabled: s.lightBeatEnabled,
      expireInstance: s.expireInstance,
      selfPreservation: s.selfPreservation,
      defaultCacheMillis: ctx.config.cacheMillis,
      pushEnabled: ctx.push !== undefined,
    };
  };

  app.get(`${base}/operator/switches`, READ, async () => switches());

  app.put(`${base}/operator/switches`, ADMIN, async (req, reply) => {
    const p = paramsOf(req);
    const { entry } = readParams(p, { entry: z.string().max(MAX_SCALAR_CHARS, `must be at most ${MAX_SCALAR_CHARS} characters`) });
    const set = Object.hasOwn(ENTRIES, entry) ? ENTRIES[entry] : undefined;
    if (!set) throw invalid('entry', `unknown switch; known: ${Object.keys(ENTRIES).join(', ')}`, entry);
    set(ctx, p);
    ctx.logger.info({ entry, value: p.value }, 'switch changed through operator/switches');
    await registry.committed();
    return ok(reply);
  });

  app.get(`${base}/operator/metrics`, READ, async () => {
    const b = beats.status();
    const mem = process.memoryUsage();
    return {
      status: 'UP',
      serviceCount: registry.services().length,
      instanceCount: registry.size,
      ephemeralInstanceCount: b.ephemeralInstances,
      responsibleServiceCount: registry.services().length,
      responsibleInstanceCount: registry.size,
      subscribeCount: ctx.subscribers.size,
      load: loadavg()[0] ?? 0,
      mem: mem.heapUsed / mem.heapTotal,
      selfPreservation: b.selfPreservation,
      beat: { ...b.counters, unhealthy: b.unhealthy, stalledMs: b.stall.totalMs, reregistered: ctx.counters.reregistered, unknownBeats: ctx.counters.unknownBeats },
      push: ctx.push?.stats() ?? null,
    };
  });
}
