/**
 * Nacos request parameters: query string over form body (Spring reads the query first), every value
 * a string. Each reader names the parameter in its error, the way Nacos does
 * (`Param 'serviceName' is required.`), and validates before anything is changed.
 */
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { VigilError } from '../errors.js';
import { DEFAULT_CLUSTER, DEFAULT_GROUP, DEFAULT_NAMESPACE } from '../registry/model.js';
import { jsonDepth, MAX_JSON_DEPTH } from '../registry/limits.js';
import { isName, NAME_PATTERN, NAME_RULE } from '../registry/names.js';

export type Params = Readonly<Record<string, string>>;

const NAME = NAME_PATTERN;
const MAX_ECHO = 80;

export function paramsOf(req: FastifyRequest): Params {
  const out: Record<string, string> = {};
  const add = (src: unknown): void => {
    if (src === null || typeof src !== 'object') return;
    for (const [k, v] of Object.entries(src)) {
      const first = Array.isArray(v) ? v[0] : v;
      if (typeof first === 'string') out[k] = first;
      else if (typeof first === 'number' || typeof first === 'boolean') out[k] = String(first);
    }
  };
  add(req.body);
  add(req.query);
  return out;
}

export function required(p: Params, name: string): string {
  const v = p[name];
  if (v === undefined || v.trim() === '') throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `Param '${name}' is required.`, name);
  return v;
}

export function invalid(name: string, why: string, value?: string): VigilError {
  const shown = value === undefined ? '' : `, got ${JSON.stringify(value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}…` : value)}`;
  return new VigilError('VIGIL_ERR_REQUEST_INVALID', `Param '${name}' is invalid: ${why}${shown}.`, name);
}

/** A name (namespace, group, cluster): absent or empty gives the default. */
export function nameParam(p: Params, name: string, dflt: string): string {
  const v = p[name];
  if (v === undefined || v === '') return dflt;
  if (!NAME.test(v)) throw invalid(name, NAME_RULE, v);
  return v;
}

export { isName };

export function namespaceOf(p: Params): string {
  return nameParam(p, 'namespaceId', DEFAULT_NAMESPACE);
}

export interface ServiceRef {
  readonly namespace: string;
  readonly group: string;
  readonly service: string;
  /** `serviceName` exactly as sent (list answers must echo it). */
  readonly raw: string;
}

/** `serviceName` grouped (`GROUP@@name`) or bare (then `groupName`, else DEFAULT_GROUP). */
export function serviceOf(p: Params, param = 'serviceName'): ServiceRef {
  const raw = required(p, param);
  const at = raw.indexOf('@@');
  const group = at >= 0 ? raw.slice(0, at) : nameParam(p, 'groupName', DEFAULT_GROUP);
  const service = at >= 0 ? raw.slice(at + 2) : raw;
  if (!NAME.test(group) || !NAME.test(service)) throw invalid(param, 'must be NAME or GROUP@@NAME, each 1-128 of A-Z a-z 0-9 _ . : -', raw);
  return { namespace: namespaceOf(p), group, service, raw };
}

export function clusterOf(p: Params, param = 'clusterName'): string {
  return nameParam(p, param, DEFAULT_CLUSTER);
}

export function ipOf(p: Params, param = 'ip'): string {
  const v = required(p, param);
  if (isIP(v) === 0) throw invalid(param, 'not an IPv4 or IPv6 address', v);
  return v;
}

export function portValue(v: string, param: string): number {
  const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 65535)) throw invalid(param, 'must be an integer from 1 to 65535', v);
  return n;
}

export function portOf(p: Params, param = 'port'): number {
  return portValue(required(p, param), param);
}

export function optionalPort(p: Params, param: string): number | undefined {
  const v = p[param];
  return v === undefined || v === '' ? undefined : portValue(v, param);
}

export function weightValue(v: string, param = 'weight'): number {
  const n = /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 10000)) throw invalid(param, 'must be a number from 0 to 10000', v);
  return n;
}

export function optionalWeight(p: Params): number | undefined {
  const v = p.weight;
  return v === undefined || v === '' ? undefined : weightValue(v);
}

export function optionalBool(p: Params, param: string): boolean | undefined {
  const v = p[param];
  if (v === undefined || v === '') return undefined;
  const s = v.trim().toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw invalid(param, 'must be true or false', v);
}

export function boolOf(p: Params, param: string, dflt: boolean): boolean {
  return optionalBool(p, param) ?? dflt;
}

/** The npm client sends `enable`, the Java SDK and the docs `enabled`: accept both. */
export function optionalEnabled(p: Params): boolean | undefined {
  return optionalBool(p, 'enabled') ?? optionalBool(p, 'enable');
}

export function optionalInt(p: Params, param: string, min: number, max: number): number | undefined {
  const v = p[param];
  if (v === undefined || v === '') return undefined;
  const n = /^-?\d{1,15}$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw invalid(param, `must be an integer from ${min} to ${max}`, v);
  return n;
}

/**
 * A JSON object sent as one parameter (beat, healthChecker, selector, metadata): parsed and bounded
 * in nesting (registry/limits.ts) before anything walks it, or refused naming the parameter.
 */
export function jsonObjectParam(text: string, param: string, what = 'must be a JSON object'): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not echoed: a half-sent JSON parameter may hold a credential.
    throw invalid(param, 'not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(param, what, text);
  if (jsonDepth(parsed) > MAX_JSON_DEPTH) throw invalid(param, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  return parsed as Record<string, unknown>;
}

/** Metadata as JSON (`{"k":"v"}`, what clients send) or `k=v,k2=v2` (Nacos's console and docs). */
export function metadataValue(v: string, param = 'metadata'): Record<string, string> {
  const s = v.trim();
  if (s === '') return {};
  if (s.startsWith('{')) return stringMap(jsonObjectParam(s, param), param);
  const out: Record<string, string> = {};
  for (const pair of s.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(param, 'must be JSON or k=v pairs separated by commas', v);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** A JSON object whose values are strings; numbers and booleans become their text, as Jackson does. */
export function stringMap(value: unknown, param: string): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(param, 'must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else throw invalid(param, `value of "${k}" must be a string`);
  }
  return out;
}

export function optionalMetadata(p: Params, param = 'metadata'): Record<string, string> | undefined {
  const v = p[param];
  return v === undefined ? undefined : metadataValue(v, param);
}
