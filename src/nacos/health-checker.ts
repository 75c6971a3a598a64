/**
 * Nacos cluster health checkers (`healthChecker` JSON of `PUT /nacos/v1/ns/cluster`) mapped onto
 * vigil checker configs. Pure; the result is validated against the loaded checkers by the caller.
 *
 *   TCP   → tcp on the instance port (or checkPort)
 *   HTTP  → http with path, headers (`k:v|k2:v2`, split on the FIRST ':' so values keep theirs;
 *           a Host header becomes the http checker's `host` option) and expectedResponseCode
 *           (Nacos ignores it; vigil honours it, default 200 as Nacos)
 *   MYSQL → mysql with user, pwd; cmd = Nacos's read_only query → the primary is required;
 *           any other cmd → that query must succeed, replicas count as healthy (as in Nacos)
 *   NONE  → no active check (see cluster.ts: a whitelist entry for the cluster)
 * vigil extension: intervalMs, timeoutMs, rise, fall may ride along in the same JSON.
 */
import { invalid, jsonObjectParam } from './params.js';

export type NacosChecker = { readonly kind: 'none' } | { readonly kind: 'checker'; readonly input: Record<string, unknown> };

const READ_ONLY_SQL = "show global variables where variable_name='read_only'";
const COMMON = ['type', 'intervalMs', 'timeoutMs', 'rise', 'fall'];
const KEYS: Record<string, readonly string[]> = {
  TCP: COMMON,
  HTTP: [...COMMON, 'path', 'headers', 'expectedResponseCode'],
  MYSQL: [...COMMON, 'user', 'pwd', 'cmd'],
  NONE: COMMON,
};
const P = 'healthChecker';

export interface PortChoice {
  readonly checkPort?: number;
  readonly useInstancePort4Check: boolean;
}

/**
 * The keys of a Nacos `healthChecker` object that carry meaning for `type`; a server may send more
 * (Nacos 2.x adds its own), which a reader of server answers drops before parsing.
 */
export function healthCheckerKeys(type: string): readonly string[] {
  return KEYS[type.toUpperCase()] ?? COMMON;
}

export function parseHealthChecker(json: string, ports: PortChoice): NacosChecker {
  const o = jsonObjectParam(json, P, 'must be a JSON object with a type');
  const type = typeof o.type === 'string' ? o.type.toUpperCase() : '';
  const allowed = KEYS[type];
  if (!allowed) throw invalid(P, 'type must be TCP, HTTP, MYSQL or NONE', String(o.type));
  const unknown = Object.keys(o).find((k) => !allowed.includes(k));
  if (unknown !== undefined) throw invalid(P, `unknown key "${unknown}" for type ${type}`);
  if (type === 'NONE') return { kind: 'none' };

  const extra: Record<string, unknown> = {};
  for (const k of ['intervalMs', 'timeoutMs', 'rise', 'fall']) if (o[k] !== undefined) extra[k] = o[k];
  if (!ports.useInstancePort4Check) {
    if (ports.checkPort === undefined) throw invalid('checkPort', 'is required when useInstancePort4Check is false');
    extra.port = ports.checkPort;
  }
  if (type === 'TCP') return { kind: 'checker', input: { type: 'tcp', options: {}, ...extra } };
  if (type === 'HTTP') return { kind: 'checker', input: { type: 'http', options: httpOptions(o), ...extra } };
  return { kind: 'checker', input: { type: 'mysql', options: mysqlOptions(o), ...extra } };
}

function text(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(P, `${key} must be a string`);
  return v;
}

function httpOptions(o: Record<string, unknown>): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const path = text(o, 'path');
  if (path !== undefined && path !== '') options.path = path.startsWith('/') ? path : `/${path}`;
  const headers: Record<string, string> = {};
  for (const entry of (text(o, 'headers') ?? '').split('|')) {
    if (entry.trim() === '') continue;
    const colon = entry.indexOf(':');
    if (colon <= 0) throw invalid(P, `header "${entry}" must be name:value`);
    const name = entry.slice(0, colon).trim();
    const value = entry.slice(colon + 1).trim();
    if (name.toLowerCase() === 'host') options.host = value;
    else headers[name] = value;
  }
  if (Object.keys(headers).length > 0) options.headers = headers;
  const code = o.expectedResponseCode ?? 200;
  const n = typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : code;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 100 || n > 599) throw invalid(P, 'expectedResponseCode must be an HTTP status 100-599');
  options.expectStatus = [n];
  return options;
}

function mysqlOptions(o: Record<string, unknown>): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const user = text(o, 'user');
  if (user !== undefined && user !== '') options.user = user;
  const pwd = text(o, 'pwd');
  if (pwd !== undefined && pwd !== '') options.password = pwd;
  const cmd = (text(o, 'cmd') ?? '').trim();
  const normal = cmd.toLowerCase().replace(/\s+/g, ' ').replace(/;$/, '').replace(/"/g, "'");
  if (normal === READ_ONLY_SQL) options.requirePrimary = true;
  else {
    options.requirePrimary = false;
    if (cmd !== '') options.query = cmd;
  }
  return options;
}

/**
 * The cluster's `healthChecker` object as `GET service` shows it, in Nacos's shape (what a
 * companion reads back through parseHealthChecker). A MySQL password is never shown.
 */
export function nacosCheckerView(cfg: { type: string; options: object } | undefined): Record<string, unknown> {
  const type = nacosTypeOf(cfg?.type);
  const o = (cfg?.options ?? {}) as Record<string, unknown>;
  if (type === 'HTTP') {
    const headers = Object.entries((o.headers ?? {}) as Record<string, string>).map(([k, v]) => `${k}:${v}`);
    if (typeof o.host === 'string') headers.unshift(`Host:${o.host}`);
    // expectStatus holds codes or [low, high] ranges; Nacos has room for one code: the first.
    const first: unknown = Array.isArray(o.expectStatus) ? o.expectStatus[0] : undefined;
    const code = Array.isArray(first) ? first[0] : first;
    return { type, path: typeof o.path === 'string' ? o.path : '/', headers: headers.join('|'), expectedResponseCode: typeof code === 'number' ? code : 200 };
  }
  if (type === 'MYSQL') {
    const cmd = o.requirePrimary === false ? (typeof o.query === 'string' ? o.query : '') : READ_ONLY_SQL;
    return { type, user: typeof o.user === 'string' ? o.user : '', cmd };
  }
  return { type };
}

/** The `healthChecker` shown by `GET service` for a stored vigil checker config. */
export function nacosTypeOf(type: string | undefined): string {
  if (type === undefined) return 'TCP';
  return type === 'tcp' || type === 'http' || type === 'mysql' ? type.toUpperCase() : type;
}
