/**
 * The whitelist: operator entries that hold instances out of health decisions (maintenance, deploys).
 * An entry matches an instance when every selector it gives matches (AND); the first live entry in
 * list order wins. Pure: expiry is decided against the `now` passed in.
 */
import { isIP } from 'node:net';
import type { InstanceId } from '../registry/model.js';
import { isName, NAME_RULE } from '../registry/names.js';

export interface WhitelistEntry {
  readonly id: string;
  /** Absent: any namespace. */
  readonly namespace?: string;
  /** `group@@name`, or a bare name meaning `DEFAULT_GROUP@@name`. */
  readonly service?: string;
  readonly cluster?: string;
  readonly ip?: string;
  readonly port?: number;
  readonly cidr?: string;
  /** ms epoch; the entry is expired once `now >= expiresAt`. */
  readonly expiresAt?: number;
  readonly reason: string;
  readonly createdAt: number;
}

/** The instance a whitelist entry is matched against. */
export type InstanceRef = InstanceId;

export type EntryInput = Omit<WhitelistEntry, 'id' | 'createdAt'>;
export type EntryValidation = { ok: true; value: EntryInput } | { ok: false; field: string; message: string };

export interface WhitelistMatcher {
  match(inst: InstanceRef): WhitelistEntry | undefined;
  /** Earliest expiry among the entries used; rebuild the matcher at that time (Infinity: never). */
  readonly validUntil: number;
}


const DEFAULT_GROUP = 'DEFAULT_GROUP';
const SEP = '@@';
const MAX_REASON = 500;

interface Addr { readonly v: 4 | 6; readonly n: bigint }
interface Net { readonly v: 4 | 6; readonly prefix: number; readonly n: bigint }

export function isExpired(e: Pick<WhitelistEntry, 'expiresAt'>, now: number): boolean {
  return e.expiresAt !== undefined && e.expiresAt <= now;
}

export function matchWhitelist(entries: readonly WhitelistEntry[], inst: InstanceRef, now: number): WhitelistEntry | undefined {
  const addr = parseIp(inst.ip);
  return entries.find((e) => !isExpired(e, now) && matches(e, inst, addr, parsed(e)));
}

/**
 * Same answers as `matchWhitelist` for the entries live at `now`, but indexed: each entry is filed
 * under its most selective selector (ip, then service, then CIDR network, else scanned), so one
 * match costs a few map look-ups plus one per distinct CIDR prefix length.
 */
export function createMatcher(entries: readonly WhitelistEntry[], now: number): WhitelistMatcher {
  const byKey = new Map<string, number[]>();
  const scan: number[] = [];
  const prefixes = new Set<string>();
  const parsedAt: Array<Parsed | undefined> = [];
  const file = (key: string, i: number): void => {
    const list = byKey.get(key);
    if (list) list.push(i);
    else byKey.set(key, [i]);
  };
  let validUntil = Infinity;
  entries.forEach((e, i) => {
    if (isExpired(e, now)) return;
    if (e.expiresAt !== undefined) validUntil = Math.min(validUntil, e.expiresAt);
    const { ip, net } = (parsedAt[i] = parsed(e));
    if (ip) file(`ip ${ipKey(ip)}`, i);
    else if (e.service !== undefined) file(`svc ${normalizeService(e.service)}`, i);
    else if (net) {
      prefixes.add(`${net.v}/${net.prefix}`);
      file(`net ${net.v}/${net.prefix}/${net.n.toString(16)}`, i);
    } else scan.push(i);
  });
  const prefixList = [...prefixes].map((p) => p.split('/').map(Number) as [4 | 6, number]);
  // The usual case in the probe loop: nothing is whitelisted, so nothing needs parsing.
  if (byKey.size === 0 && scan.length === 0) return { validUntil, match: () => undefined };
  return {
    validUntil,
    match(inst) {
      const addr = parseIp(inst.ip);
      const keys = [`svc ${instanceService(inst)}`];
      if (addr) {
        keys.push(`ip ${ipKey(addr)}`);
        for (const [v, prefix] of prefixList) if (v === addr.v) keys.push(`net ${v}/${prefix}/${masked(addr.n, v, prefix).toString(16)}`);
      }
      let best: number | undefined;
      const consider = (i: number): void => {
        if ((best === undefined || i < best) && matches(entries[i]!, inst, addr, parsedAt[i]!)) best = i;
      };
      for (const k of keys) byKey.get(k)?.forEach(consider);
      scan.forEach(consider);
      return best === undefined ? undefined : entries[best];
    },
  };
}

interface Parsed { readonly ip: Addr | undefined; readonly net: Net | undefined }

function parsed(e: WhitelistEntry): Parsed {
  return { ip: e.ip === undefined ? undefined : parseIp(e.ip), net: e.cidr === undefined ? undefined : parseCidr(e.cidr) };
}

/** `ip` and `net` are `e`'s addresses, parsed once; an unparsable one matches nothing rather than everything. */
function matches(e: WhitelistEntry, inst: InstanceRef, addr: Addr | undefined, { ip, net }: Parsed): boolean {
  if (e.namespace !== undefined && e.namespace !== inst.namespace) return false;
  if (e.service !== undefined && normalizeService(e.service) !== instanceService(inst)) return false;
  if (e.cluster !== undefined && e.cluster !== inst.cluster) return false;
  if (e.port !== undefined && e.port !== inst.port) return false;
  if (e.ip !== undefined && (!ip || !addr || ip.v !== addr.v || ip.n !== addr.n)) return false;
  if (e.cidr !== undefined && (!net || !addr || net.v !== addr.v || masked(addr.n, addr.v, net.prefix) !== net.n)) return false;
  return true;
}

function normalizeService(s: string): string {
  return s.includes(SEP) ? s : `${DEFAULT_GROUP}${SEP}${s}`;
}

/** Some callers hand over an already grouped name; do not group it twice. */
function instanceService(inst: InstanceRef): string {
  return inst.service.includes(SEP) ? inst.service : `${inst.group}${SEP}${inst.service}`;
}

/** Parses an address to a number so `::1` and `0:0::1`, or `FE80::1` and `fe80::1`, compare equal. */
function parseIp(raw: string): Addr | undefined {
  const s = raw.split('%')[0]!; // a zone id names a local interface, not a different host
  const v = isIP(s);
  if (v === 4) return { v, n: s.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n) };
  if (v !== 6) return undefined;
  let text = s;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const n = parseIp(dotted[1]!)!.n;
    text = `${s.slice(0, dotted.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return { v: 6, n: all.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n) };
}

function ipKey(a: Addr): string {
  return `${a.v}:${a.n.toString(16)}`;
}

function parseCidr(raw: string): Net | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(raw);
  const addr = m ? parseIp(m[1]!) : undefined;
  if (!m || !addr || m[1]!.includes('%')) return undefined;
  const prefix = Number(m[2]);
  if (prefix > (addr.v === 4 ? 32 : 128)) return undefined;
  // Host bits are ignored (10.1.2.3/8 is 10.0.0.0/8), as in BlockList and most tools.
  return { v: addr.v, prefix, n: masked(addr.n, addr.v, prefix) };
}

function masked(n: bigint, v: 4 | 6, prefix: number): bigint {
  const bits = v === 4 ? 32n : 128n;
  const host = bits - BigInt(prefix);
  return (n >> host) << host;
}

const FIELDS = new Set(['namespace', 'service', 'cluster', 'ip', 'port', 'cidr', 'expiresAt', 'reason']);

/**
 * Checks an entry as an operator sent it (`id` and `createdAt` are assigned by the server, so they
 * are rejected as unknown). With `now`, an `expiresAt` that has already passed is rejected too.
 */
export function validateEntry(input: unknown, now?: number): EntryValidation {
  const bad = (field: string, message: string): EntryValidation => ({ ok: false, field, message });
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return bad('entry', 'must be an object');
  const o = input as Record<string, unknown>;
  const given = (k: string): boolean => o[k] !== undefined;
  for (const k of Object.keys(o)) if (!FIELDS.has(k) && o[k] !== undefined) return bad(k, 'is not a whitelist field');
  for (const k of ['namespace', 'service', 'cluster', 'ip', 'cidr'] as const) {
    if (given(k) && (typeof o[k] !== 'string' || o[k] === '')) return bad(k, 'must be a non-empty string');
  }
  // Names follow the registry's one rule: an entry that can never match is refused, not kept.
  if (given('namespace') && !isName(o.namespace)) return bad('namespace', NAME_RULE);
  if (given('cluster') && !isName(o.cluster)) return bad('cluster', NAME_RULE);
  const service = o.service as string | undefined;
  if (service !== undefined) {
    const parts = service.split(SEP);
    if (parts.length > 2 || !parts.every(isName)) return bad('service', `must be name or group@@name, each ${NAME_RULE.replace('must be ', '')}`);
  }
  if (given('cluster') && !given('service')) return bad('cluster', 'requires service');
  const ip = o.ip as string | undefined;
  if (ip !== undefined && (isIP(ip) === 0 || ip.includes('%'))) return bad('ip', 'must be an IPv4 or IPv6 address');
  if (given('port')) {
    const port = o.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return bad('port', 'must be an integer 1-65535');
    if (ip === undefined) return bad('port', 'requires ip');
  }
  const cidr = o.cidr as string | undefined;
  if (cidr !== undefined && parseCidr(cidr) === undefined) return bad('cidr', 'must be address/prefix with the prefix in range');
  if (cidr !== undefined && ip !== undefined) return bad('cidr', 'give ip or cidr, not both');
  if (!given('service') && ip === undefined && cidr === undefined) return bad('service', 'give at least one of service, ip or cidr');
  if (given('expiresAt')) {
    const at = o.expiresAt;
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at <= 0) return bad('expiresAt', 'must be a positive integer ms epoch');
    if (now !== undefined && at <= now) return bad('expiresAt', 'is in the past');
  }
  const reason = o.reason;
  if (typeof reason !== 'string' || reason.trim() === '') return bad('reason', 'is required');
  if (reason.length > MAX_REASON) return bad('reason', `must be at most ${MAX_REASON} characters`);
  const value: Record<string, unknown> = {};
  for (const k of FIELDS) if (given(k)) value[k] = o[k];
  return { ok: true, value: value as unknown as EntryInput };
}
