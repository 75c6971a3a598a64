/**
 * The role of one database instance, kept apart from its liveness. Pure: a function of the last
 * role, the probe's result, the health after that probe and `now`, tested with literal values.
 *
 * The rules (docs/primaries.md has the reasoning):
 * - a probe that read the role (`facts.role`) sets it at once: `read_only` seen ON demotes now;
 * - a probe that did not (timeout, refused, reset) says nothing about the role: it stays as last
 *   seen while the instance is UP, and becomes `unknown` only once the instance is DOWN by the
 *   `fall` rule. A slow answer never takes the primary role away (ProxySQL #1811).
 */
import type { Fact, Verdict } from '../health/contract.js';

export type Role = 'primary' | 'replica' | 'unknown';

export interface RoleState {
  readonly role: Role;
  /** ms epoch since when `role` holds. */
  readonly since: number;
  /** The latest probe read the role: the server answered it just now. */
  readonly fresh: boolean;
  /** The latest probe's verdict was `ok` (a fresh role with a failed custom query is not ok). */
  readonly ok: boolean;
}

export interface ProbeView {
  readonly status: Verdict;
  readonly facts?: Readonly<Record<string, Fact>>;
}

/** The role a probe read, if it read one. */
export function roleFact(probe: ProbeView): 'primary' | 'replica' | undefined {
  const role = probe.facts?.role;
  return role === 'primary' || role === 'replica' ? role : undefined;
}

export function nextRole(prev: RoleState | undefined, probe: ProbeView, healthy: boolean, now: number): RoleState {
  const seen = roleFact(probe);
  const role: Role = seen ?? (healthy ? (prev?.role ?? 'unknown') : 'unknown');
  const since = prev !== undefined && prev.role === role ? prev.since : now;
  return Object.freeze({ role, since, fresh: seen !== undefined, ok: probe.status === 'ok' });
}
