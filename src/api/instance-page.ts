/**
 * One page of the native instance listing. Pages are ordered by instance key and resumed after the
 * last key of the previous page (a cursor that stays valid when instances come and go), so one
 * request never serializes more than `limit` records on the event loop that also probes and beats.
 */
import type { InstanceRecord } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';

export const DEFAULT_PAGE = 500;
export const MAX_PAGE = 5000;

export interface InstanceFilter {
  readonly namespace?: string;
  readonly group?: string;
  readonly service?: string;
  readonly cluster?: string;
  readonly healthy?: boolean;
  readonly kind?: 'persistent' | 'ephemeral';
}

export interface InstancePage {
  readonly records: Array<{ key: string; record: InstanceRecord }>;
  /** The cursor of the next page; null on the last page. */
  readonly nextCursor: string | null;
}

function matches(r: InstanceRecord, f: InstanceFilter): boolean {
  const i = r.instance;
  if (f.namespace !== undefined && i.namespace !== f.namespace) return false;
  if (f.group !== undefined && i.group !== f.group) return false;
  if (f.service !== undefined && i.service !== f.service) return false;
  if (f.cluster !== undefined && i.cluster !== f.cluster) return false;
  if (f.healthy !== undefined && r.health.healthy !== f.healthy) return false;
  if (f.kind !== undefined && i.ephemeral !== (f.kind === 'ephemeral')) return false;
  return true;
}

export function instancePage(registry: Registry, filter: InstanceFilter, cursor: string | undefined, limit: number): InstancePage {
  // Keys only, filtered without copying records; only the page itself is copied.
  const keys: string[] = [];
  for (const key of registry.keys()) {
    if (cursor !== undefined && key <= cursor) continue;
    const live = registry.peek(key);
    if (live && matches(live, filter)) keys.push(key);
  }
  keys.sort();
  const records: InstancePage['records'] = [];
  for (const key of keys.slice(0, limit)) {
    const record = registry.get(key);
    if (record) records.push({ key, record });
  }
  return { records, nextCursor: keys.length > limit ? keys[limit - 1]! : null };
}
