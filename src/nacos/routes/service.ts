/**
 * `service` (POST create, GET detail, PUT update, DELETE) and `service/list`. A service exists when
 * it was created here or has instances (registering creates it implicitly, as in Nacos).
 */
import { READ, WRITE } from '../../api/access.js';
import type { FastifyInstance } from 'fastify';
import { VigilError } from '../../errors.js';
import { DEFAULT_GROUP, DEFAULT_NAMESPACE, groupedName, type ServiceId } from '../../registry/model.js';
import type { NacosContext } from '../context.js';
import { nacosCheckerView } from '../health-checker.js';
import { decimalIn, documentSchemas, intIn, MAX_PAGE_SIZE, name, SERVICE, serviceRef } from '../param-schemas.js';
import { readParams } from '../params.js';
import type { ServiceEntry } from '../service-store.js';
import { noneWhitelistId } from './cluster.js';
import { ok } from './instance.js';

export function registerServiceRoutes(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, services } = ctx;
  // Service metadata and selector are bounded like instance metadata (`registry.maxMetadataBytes`, nesting depth).
  const docs = documentSchemas(ctx.instances.limits);
  const WRITE_PARAMS = { ...SERVICE, protectThreshold: decimalIn(0, 1).optional(), metadata: docs.metadata.optional(), selector: docs.selector.optional() };
  const LIST = { pageNo: intIn(1, 1_000_000), pageSize: intIn(1, MAX_PAGE_SIZE), namespaceId: name.default(DEFAULT_NAMESPACE), groupName: name.default(DEFAULT_GROUP) };
  const idOf = (v: Parameters<typeof serviceRef>[0]): ServiceId => {
    const s = serviceRef(v);
    return { namespace: s.namespace, group: s.group, service: s.service };
  };
  const hasInstances = (id: ServiceId): boolean => registry.serviceInstances(id).length > 0;
  const current = (id: ServiceId): ServiceEntry | undefined =>
    services.get(id) ?? (hasInstances(id) ? { ...id, protectThreshold: 0, metadata: {}, selector: { type: 'none' } } : undefined);
  const notFound = (id: ServiceId): VigilError =>
    new VigilError('VIGIL_ERR_NOT_FOUND', `service not found: ${groupedName(id)} in namespace ${id.namespace}`, 'serviceName');

  app.post(`${base}/service`, WRITE, async (req, reply) => {
    const v = readParams(req, WRITE_PARAMS);
    const id = idOf(v);
    const entry: ServiceEntry = { ...id, protectThreshold: v.protectThreshold ?? 0, metadata: v.metadata ?? {}, selector: v.selector ?? { type: 'none' } };
    if (current(id)) throw new VigilError('VIGIL_ERR_CONFLICT', `Param 'serviceName' is invalid: service ${groupedName(id)} exists already.`, 'serviceName');
    services.put(entry);
    await registry.committed();
    return ok(reply);
  });

  app.put(`${base}/service`, WRITE, async (req, reply) => {
    const v = readParams(req, WRITE_PARAMS);
    const id = idOf(v);
    const cur = current(id);
    if (!cur) throw notFound(id);
    services.put({ ...cur, protectThreshold: v.protectThreshold ?? cur.protectThreshold, metadata: v.metadata ?? cur.metadata, selector: v.selector ?? cur.selector });
    await registry.committed();
    return ok(reply);
  });

  app.delete(`${base}/service`, WRITE, async (req, reply) => {
    const id = idOf(readParams(req, SERVICE));
    if (!current(id)) throw notFound(id);
    if (hasInstances(id)) throw new VigilError('VIGIL_ERR_CONFLICT', `Param 'serviceName' is invalid: service ${groupedName(id)} still has instances; deregister them first.`, 'serviceName');
    services.remove(id);
    // Its clusters' checker configs and NONE exemptions go with it, as in Nacos.
    for (const c of registry.checkerConfigs()) {
      const s = c.scope;
      if (s.namespace === id.namespace && s.group === id.group && s.service === id.service) registry.setCheckerConfig(s, null);
    }
    for (const e of registry.whitelist()) if (e.id.startsWith(noneWhitelistId({ ...id, cluster: '' }))) registry.removeWhitelist(e.id);
    await registry.committed();
    return ok(reply);
  });

  app.get(`${base}/service`, READ, async (req) => {
    const id = idOf(readParams(req, SERVICE));
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
    const { pageNo, pageSize, namespaceId: namespace, groupName: group } = readParams(req, LIST);
    const names = new Set<string>();
    for (const s of registry.services(namespace)) if (s.group === group) names.add(s.service);
    for (const s of services.list(namespace)) if (s.group === group) names.add(s.service);
    const sorted = [...names].sort();
    return { count: sorted.length, doms: sorted.slice((pageNo - 1) * pageSize, pageNo * pageSize) };
  });
}
