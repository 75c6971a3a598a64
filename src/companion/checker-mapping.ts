/**
 * Which checker probes a persistent instance of the Nacos server, in this order: the service's
 * entry in `source.nacos.services` (any vigil checker, plugins included); the checker its Nacos
 * cluster declares (TCP / HTTP / MYSQL, mapped by src/nacos/health-checker.ts, the same mapping the
 * Nacos API uses); for a cluster set to NONE (adopted, see docs/companion.md) the checker it
 * declared before, when this process saw it; else `checks.checker`.
 */
import { isVigilError } from '../errors.js';
import type { CheckerRegistry } from '../health/checker-registry.js';
import { healthCheckerKeys, parseHealthChecker } from '../nacos/health-checker.js';
import { groupedName, scopeKey, splitServiceName, type CheckerConfig, type ServiceId } from '../registry/model.js';
import { parseCheckerConfig, type CheckerPolicy } from '../registry/validate.js';
import { portsOf, type NacosCluster } from './nacos-client.js';

export type CheckerSource = 'override' | 'cluster' | 'remembered' | 'default';

export interface MappedChecker {
  readonly config: CheckerConfig;
  readonly source: CheckerSource;
  /** The cluster's own `healthChecker.type` as the server shows it ('' when unknown). */
  readonly declared: string;
  /** Why the cluster's checker could not be used, when it could not. */
  readonly problem?: string;
}

export interface CheckerMapping {
  map(service: ServiceId, cluster: string, nacos: NacosCluster | undefined): MappedChecker;
}

/** Validates `source.nacos.services` once at start-up; keys are `name` (DEFAULT_GROUP) or `GROUP@@name`. */
export function parseOverrides(checkers: CheckerRegistry, raw: Readonly<Record<string, unknown>>, policy: CheckerPolicy): Map<string, CheckerConfig> {
  const out = new Map<string, CheckerConfig>();
  for (const [name, cfg] of Object.entries(raw)) {
    const s = splitServiceName(name);
    out.set(groupedName(s), parseCheckerConfig(checkers, cfg, policy, `source.nacos.services.${name}`));
  }
  return out;
}

/**
 * `serverPolicy` applies to what the Nacos server declares: the same policy as a `PUT cluster` sent
 * to vigil's own Nacos API, since both come from outside the operator's config.
 */
export function createCheckerMapping(checkers: CheckerRegistry, overrides: Map<string, CheckerConfig>, fallback: CheckerConfig, serverPolicy: CheckerPolicy): CheckerMapping {
  // Last checker each cluster declared before it was set to NONE (by `vigil nacos adopt` or by hand).
  const remembered = new Map<string, CheckerConfig>();
  // One parse per distinct declaration: thousands of instances share a handful of clusters.
  const parsed = new Map<string, { config?: CheckerConfig; problem?: string }>();

  function fromCluster(c: NacosCluster): { kind: 'none' } | { config?: CheckerConfig; problem?: string } {
    const hc = c.healthChecker;
    if (!hc) return {};
    const type = hc.type.toUpperCase();
    if (type === 'NONE') return { kind: 'none' };
    const known: Record<string, unknown> = {};
    for (const k of healthCheckerKeys(type)) if (hc[k] !== undefined) known[k] = hc[k];
    const json = JSON.stringify(known);
    const ports = portsOf(c);
    const cacheKey = `${json} ${ports.checkPort ?? ''} ${ports.useInstancePort4Check}`;
    let hit = parsed.get(cacheKey);
    if (!hit) {
      try {
        const mapped = parseHealthChecker(json, ports);
        hit = mapped.kind === 'checker' ? { config: parseCheckerConfig(checkers, mapped.input, serverPolicy, 'healthChecker') } : {};
      } catch (err) {
        if (!isVigilError(err)) throw err;
        hit = { problem: err.message };
      }
      parsed.set(cacheKey, hit);
    }
    return hit;
  }

  return {
    map(service, cluster, nacos) {
      const declared = nacos?.healthChecker ? nacos.healthChecker.type.toUpperCase() : '';
      const override = overrides.get(groupedName(service));
      if (override) return { config: override, source: 'override', declared };
      const scope = scopeKey({ ...service, cluster });
      const own = nacos ? fromCluster(nacos) : {};
      if ('config' in own && own.config) {
        remembered.set(scope, own.config);
        return { config: own.config, source: 'cluster', declared };
      }
      const problem = 'problem' in own ? own.problem : undefined;
      const before = 'kind' in own ? remembered.get(scope) : undefined;
      if (before) return { config: before, source: 'remembered', declared };
      return { config: fallback, source: 'default', declared, ...(problem !== undefined ? { problem } : {}) };
    },
  };
}
