/**
 * `service` (POST create, GET detail, PUT update, DELETE) and `service/list`. A service exists when
 * it was created here or has instances (registering creates it implicitly, as in Nacos).
 */
import { READ, WRITE } from '../../api/access.js';
import type { FastifyInstance } from 'fastify';
import { VigilError } from '../../errors.js';
import { groupedName, type ServiceId } from '../../registry/model.js';
import { checkMetadataSize, type ValidationLimits } from '../../registry/validate.js';
import type { NacosContext } from '../context.js';
import { nacosCheckerView } from '../health-checker.js';
import { invalid, jsonObjectParam, nameParam, namespaceOf, optionalInt, optionalMetadata, paramsOf, required, serviceOf, type Params } from '../params.js';
import type { ServiceEntry } from '../service-store.js';
import { noneWhitelistId } from './cluster.js';
import { ok } from './instance.js';

function thresholdOf(p: Params): number | undefined {
  const v = p.protectThreshold;
  if (v === undefined || v === '') return undefined;
  const n = /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 1)) throw invalid('protectThreshold', 'must be a number from 0 to 1', v);
  return n;
}

/** Service metadata and selector are bounded like instance metadata (`registry.maxMetadataBytes`, nesting depth). */
function bounded<T>(value: T, param: string, limits: ValidationLimits): T {
  try {
    checkMetadataSize(value, limits, param);
  } catch (err) {
    throw invalid(param, (err as VigilError).message.replace(`${param}: `, ''));
  }
  return value;
}

function selectorOf(p: Params, limits: ValidationLimits): Record<string, unknown> | undefined {
  const v = p.selector;
  if (v === undefined || v === '') return undefined;
  return bounded(jsonObjectParam(v, 'selector'), 'selector', limits);
}

function metadataOf(p: Params, limits: ValidationLimits): Record<string, string> | undefined {
  const m = optionalMetadata(p);
  return m === undefined ? undefined : bounded(m, 'metadata', limits);
}

export function registerServiceRoutes(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, services } = ctx;
  const { limits } = ctx.instances;
  const idOf = (p: Params): ServiceId => {
    const s = serviceOf(p);
    return { namespace: s.namespace, group: s.group, service: s.service };
  };
  const hasInstances = (id: ServiceId): boolean => registry.serviceInstances(id).length > 0;
  const current = (id: ServiceId): ServiceEntry | undefined =>
    services.get(id) ?? (hasInstances(id) ? { ...id, protectThreshold: 0, metadata: {}, selector: { type: 'none' } } : undefined);
  const notFound = (id: ServiceId): VigilError =>
    new VigilError('VIGIL_ERR_NOT_FOUND', `service not found: ${groupedName(id)} in namespace ${id.namespace}`, 'serviceName');

  app.post(`${base}/service`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const id = idOf(p);
    const entry: ServiceEntry = { ...id, protectThreshold: thresholdOf(p) ?? 0, metadata: metadataOf(p, limits) ?? {}, selector: selectorOf(p, limits) ?? { type: 'none' } };
    if (current(id)) throw new VigilError('VIGIL_ERR_CONFLICT', `Param 'serviceName' is invalid: service ${groupedName(id)} exists already.`, 'serviceName');
    services.put(entry);
    return ok(reply);
  });

  app.put(`${base}/service`, WRITE, async (req, reply) => {
    const p = paramsOf(req);
    const id = idOf(p);
    const threshold = thresholdOf(p);
    const metadata = metadataOf(p, limits);
    const selector = selectorOf(p, limits);
    const cur = current(id);
    if (!cur) throw notFound(id);
    services.put({ ...cur, protectThreshold: threshold ?? cur.protectThreshold, metadata: metadata ?? cur.metadata, selector: selector ?? cur.selector });
    return ok(reply);
  });

  app.delete(`${base}/service`, WRITE, async (req, reply) => {
    const id = idOf(paramsOf(req));
    if (!current(id)) throw notFound(id);
    if (hasInstances(id)) throw new VigilError('VIGIL_ERR_CONFLICT', `Param 'serviceName' is invalid: service ${groupedName(id)} still has instances; deregister them first.`, 'serviceName');
    services.remove(id);
    // Its clusters' checker configs and NONE exemptions go with it, as in Nacos.
    for (const c of registry.checkerConfigs()) {
      const s = c.scope;
      if (s.namespace === id.namespace && s.group === id.group && s.service === id.service) registry.setCheckerConfig(s, null);
    }
    for (const e of registry.whitelist()) if (e.id.startsWith(noneWhitelistId({ ...id, cluster: '' }))) registry.removeWhitelist(e.id);
    return ok(reply);
  });

  app.get(`${base}/service`, READ, async (req) => {
    const id = idOf(paramsOf(req));
    const cur = current(id);
    if (!cur) throw notFound(id);
    const clusters = new Set(registry.serviceInstances(id).map((r) => r.instance.cluster));
    for (const c of registry.checkerConfigs()) {
      if (c.scope.namespace === id.namespace && c.scope.group === id.group && c.scope.service === id.service && c.scope.cluster) clusters.add(c.scope.cluster);
    }
    return {
      namespaceId: id.namespace,
      groupName: id.group,
      name: id.service,
      protectThreshold: cur.protectThreshold,
      metadata: cur.metadata,
      selector: cur.selector,
      clusters: [...clusters].sort().map((name) => {
        const cfg = registry.resolveChecker({ ...id, cluster: name, ip: '0.0.0.0', port: 1, weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: 0 });
        const none = registry.whitelist().some((e) => e.id === noneWhitelistId({ ...id, cluster: name }));
        const ports = cfg?.port !== undefined ? { healthyCheckPort: cfg.port, useInstancePortForCheck: false } : { useInstancePortForCheck: true };
        return { name, healthChecker: none ? { type: 'NONE' } : nacosCheckerView(cfg), ...ports, metadata: {} };
      }),
    };
  });

  app.get(`${base}/service/list`, READ, async (req) => {
    const p = paramsOf(req);
    required(p, 'pageNo');
    required(p, 'pageSize');
    const pageNo = optionalInt(p, 'pageNo', 1, 1_000_000)!;
    const pageSize = optionalInt(p, 'pageSize', 1, 10_000)!;
    const namespace = namespaceOf(p);
    const group = nameParam(p, 'groupName', 'DEFAULT_GROUP');
    const names = new Set<string>();
    for (const s of registry.services(namespace)) if (s.group === group) names.add(s.service);
    for (const s of services.list(namespace)) if (s.group === group) names.add(s.service);
    const sorted = [...names].sort();
    return { count: sorted.length, doms: sorted.slice((pageNo - 1) * pageSize, pageNo * pageSize) };
  });
}
