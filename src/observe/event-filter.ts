/**
 * Filters of the event stream (`/v1/events?service=…&namespace=…&kind=…&types=…`) and the resume id,
 * checked at the boundary: an unknown filter key, an unknown event type or a malformed
 * `Last-Event-ID` is a 400 naming the field, never a stream that silently shows nothing.
 */
import { VigilError } from '../errors.js';
import { DEFAULT_GROUP } from '../registry/model.js';
import { EVENT_TYPES } from './event-table.js';
import type { VigilEvent } from './event-hub.js';

export interface EventFilter {
  readonly namespace?: string;
  /** `group@@name`. */
  readonly service?: string;
  readonly kind?: 'ephemeral' | 'persistent';
  readonly types?: ReadonlySet<string>;
}

const KEYS = new Set(['namespace', 'service', 'group', 'kind', 'types', 'lastEventId']);
const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

function name(field: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME.test(v)) throw new VigilError('VIGIL_ERR_EVENTS_FILTER', `${field} must be 1-128 characters A-Z a-z 0-9 _ . : -`, field);
  return v;
}

export function parseEventFilter(query: Record<string, unknown>): EventFilter {
  for (const k of Object.keys(query)) {
    if (!KEYS.has(k)) throw new VigilError('VIGIL_ERR_EVENTS_FILTER', `unknown event filter "${k}" (use namespace, service, group, kind, types)`, k);
  }
  const out: { namespace?: string; service?: string; kind?: 'ephemeral' | 'persistent'; types?: Set<string> } = {};
  if (query.namespace !== undefined) out.namespace = name('namespace', query.namespace);
  if (query.group !== undefined && query.service === undefined) throw new VigilError('VIGIL_ERR_EVENTS_FILTER', 'group requires service', 'group');
  if (query.service !== undefined) {
    const raw = String(query.service);
    const [group, svc] = raw.includes('@@') ? raw.split('@@', 2) : [query.group === undefined ? DEFAULT_GROUP : name('group', query.group), raw];
    out.service = `${name('group', group)}@@${name('service', svc)}`;
  }
  if (query.kind !== undefined) {
    if (query.kind !== 'ephemeral' && query.kind !== 'persistent') throw new VigilError('VIGIL_ERR_EVENTS_FILTER', 'kind must be ephemeral or persistent', 'kind');
    out.kind = query.kind;
  }
  if (query.types !== undefined) {
    const types = String(query.types).split(',').filter((t) => t !== '');
    const unknown = types.find((t) => !EVENT_TYPES.includes(t));
    if (unknown !== undefined || types.length === 0) {
      throw new VigilError('VIGIL_ERR_EVENTS_FILTER', `types: unknown event type "${unknown ?? ''}" (known: ${EVENT_TYPES.join(', ')})`, 'types');
    }
    out.types = new Set(types);
  }
  return out;
}

/** Scoped filters pass daemon-wide events (self-preservation, switches): they concern every service. */
export function matchesFilter(f: EventFilter, e: VigilEvent): boolean {
  if (f.types && !f.types.has(e.type)) return false;
  const s = e.scope;
  if (!s) return true;
  if (f.namespace !== undefined && s.namespace !== f.namespace) return false;
  if (f.service !== undefined && s.service !== f.service) return false;
  if (f.kind !== undefined && s.kind !== f.kind) return false;
  return true;
}

/** `<boot>-<seq>` as the hub hands out; anything else is a client bug worth a 400. */
export function parseLastEventId(raw: unknown, field: string): { boot: string; seq: number } | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = typeof raw === 'string' ? /^([0-9a-z]{1,16})-(\d{1,15})$/.exec(raw) : null;
  if (!m) throw new VigilError('VIGIL_ERR_EVENTS_LAST_ID', `${field} must be an event id as sent by vigil (<boot>-<n>)`, field);
  return { boot: m[1]!, seq: Number(m[2]) };
}
