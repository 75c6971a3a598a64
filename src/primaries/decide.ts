/**
 * Which instance of a service is the writable primary. Pure: a function of the members' health and
 * roles, so every case is tested with literal values. The answer cannot be misread: exactly one
 * writable instance is `one`; two or more are `split` and name every candidate (a client that only
 * reads `primary` must not get one of two); none is `none` with the reason.
 */
import { createHash } from 'node:crypto';
import type { RoleState } from './role.js';

export interface Member {
  readonly key: string;
  readonly healthy: boolean;
  /** An operator override holds the health: probes are suspended, `healthy` is the operator's. */
  readonly overridden: boolean;
  readonly role: RoleState | undefined;
}

/**
 * - `not-probed`: no instance has reported a role yet (vigil just started, or the checker reports none);
 * - `all-down`: no instance is alive to answer;
 * - `all-read-only`: the instances that answer are all read-only;
 * - `primary-down`: the one writable instance answers but fails its check (e.g. its custom query).
 */
export type NoneReason = 'not-probed' | 'all-down' | 'all-read-only' | 'primary-down';

export type Answer =
  | { readonly kind: 'one'; readonly primary: string; readonly candidates: readonly string[]; readonly version: string }
  | { readonly kind: 'split'; readonly candidates: readonly string[]; readonly version: string }
  | { readonly kind: 'none'; readonly reason: NoneReason; readonly candidates: readonly string[]; readonly version: string };

/**
 * Writable: the role as last seen is primary, and the instance either is UP or answered just now
 * (a rising instance that answers writable counts at once: it can take writes). An operator's
 * "down" override takes it out.
 */
export function isWritable(m: Member): boolean {
  if (m.role?.role !== 'primary') return false;
  if (m.overridden && !m.healthy) return false;
  return m.healthy || m.role.fresh;
}

/** Fit to be named the primary: writable, and UP or answering ok right now. */
function isLive(m: Member): boolean {
  return m.healthy || (m.role?.fresh === true && m.role.ok && !m.overridden);
}

/** A content hash: the same answer has the same version in any process, before and after restarts. */
export function versionOf(kind: string, detail: readonly string[]): string {
  return createHash('sha1').update(JSON.stringify([kind, ...detail])).digest('base64url').slice(0, 12);
}

export function decidePrimary(members: readonly Member[]): Answer {
  const writable = members.filter(isWritable).map((m) => m.key).sort();
  if (writable.length > 1) return { kind: 'split', candidates: writable, version: versionOf('split', writable) };
  const only = writable.length === 1 ? members.find((m) => m.key === writable[0]) : undefined;
  if (only && isLive(only)) return { kind: 'one', primary: only.key, candidates: writable, version: versionOf('one', writable) };
  const reason = noneReason(members, only !== undefined);
  return { kind: 'none', reason, candidates: [], version: versionOf('none', [reason]) };
}

function noneReason(members: readonly Member[], writableButDown: boolean): NoneReason {
  if (writableButDown) return 'primary-down';
  if (members.every((m) => m.role === undefined)) return 'not-probed';
  const answering = members.some((m) => m.healthy || m.role?.fresh === true);
  return answering ? 'all-read-only' : 'all-down';
}
