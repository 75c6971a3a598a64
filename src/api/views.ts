/** How instances, health and checker configs are shown by the API and `vigil status`. */
import type { CheckerRegistry } from '../health/checker-registry.js';
import { redactOptions } from '../health/options.js';
import { instanceIdOf, instanceKey, type CheckerConfig, type InstanceRecord } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import { ACTIVE_CHECKS_SWITCH } from '../health/scheduler.js';

export type Exemption =
  | { readonly by: 'whitelist'; readonly id: string; readonly reason: string; readonly expiresAt?: number }
  | { readonly by: 'override'; readonly reason: string; readonly until?: number }
  | { readonly by: 'switch'; readonly reason: string };

export interface ViewDeps {
  readonly registry: Registry;
  readonly checkers: CheckerRegistry;
  readonly defaultChecker: CheckerConfig;
  readonly now: () => number;
  /** The role of an instance as the primaries tracker last saw it (role, since when). */
  readonly roleOf?: (key: string) => { readonly role: string; readonly since: number } | undefined;
}

export function checkerView(checkers: CheckerRegistry, cfg: CheckerConfig): Record<string, unknown> {
  const options = checkers.has(cfg.type) ? redactOptions(checkers.get(cfg.type), cfg.options) : cfg.options;
  return { ...cfg, options };
}

export function exemptionOf(deps: ViewDeps, rec: InstanceRecord, now: number): Exemption | null {
  if (rec.instance.ephemeral) return null;
  if (rec.health.override) {
    const o = rec.health.override;
    return { by: 'override', reason: o.reason ?? 'health set by an operator', ...(o.until !== undefined ? { until: o.until } : {}) };
  }
  const entry = deps.registry.whitelistMatcher(now).match(rec.instance);
  if (entry) return { by: 'whitelist', id: entry.id, reason: entry.reason, ...(entry.expiresAt !== undefined ? { expiresAt: entry.expiresAt } : {}) };
  if (deps.registry.getSwitch(ACTIVE_CHECKS_SWITCH) === false) return { by: 'switch', reason: 'active checks are switched off' };
  return null;
}

export function instanceView(deps: ViewDeps, rec: InstanceRecord): Record<string, unknown> {
  const { instance: i, health: h, lastProbe: p } = rec;
  const own = deps.registry.resolveChecker(i);
  // Cluster mode: the node whose decision this is (absent on a single node).
  const node = i.ephemeral ? undefined : deps.registry.decidedByNode(instanceKey(i));
  const checker = i.ephemeral ? null : checkerView(deps.checkers, own ?? deps.defaultChecker);
  return {
    ...instanceIdOf(i),
    weight: i.weight,
    enabled: i.enabled,
    ephemeral: i.ephemeral,
    metadata: i.metadata,
    checker,
    health: {
      healthy: h.healthy,
      since: h.since,
      version: h.version,
      decidedBy: h.decidedBy,
      ...(node !== undefined ? { decidedByNode: node } : {}),
      reason: h.reason,
      okStreak: h.okStreak,
      failStreak: h.failStreak,
      ...(h.override ? { override: h.override } : {}),
    },
    lastProbe: p
      ? { status: p.status, reason: p.reason, latencyMs: p.latencyMs, startedAt: p.startedAt, type: p.type, detail: p.detail ?? null, facts: p.facts ?? {} }
      : null,
    exempt: exemptionOf(deps, rec, deps.now()),
    role: roleView(deps, rec),
  };
}

/** `{ role, since }` for instances whose checker reports a role (MySQL); null for the others. */
function roleView(deps: ViewDeps, rec: InstanceRecord): { role: string; since: number } | null {
  const r = deps.roleOf?.(instanceKey(rec.instance));
  return r ? { role: r.role, since: r.since } : null;
}
