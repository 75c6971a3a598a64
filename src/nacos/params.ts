/**
 * Nacos request parameters: query string over form body (Spring reads the query first), every value
 * a string. Each route declares its parameters once, as a shape of zod schemas (param-schemas.ts,
 * built on the same name/ip rules as the native API), and reads them with `readParams`: every
 * parameter is checked, in the order declared, before anything is changed. An error names the
 * parameter the way Nacos does (`Param 'serviceName' is required.`) with the code
 * VIGIL_ERR_REQUEST_INVALID.
 */
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { VigilError } from '../errors.js';
import { jsonDepth, MAX_JSON_DEPTH } from '../registry/limits.js';

export type Params = Readonly<Record<string, string>>;
/** One schema per parameter; each reads the string sent, or `undefined` when it was absent or blank. */
export type ParamShape = Readonly<Record<string, z.ZodType<unknown, string | undefined>>>;
export type ParamValues<S extends ParamShape> = { readonly [K in keyof S]: z.output<S[K]> };

const MAX_ECHO = 80;
/** Never echoed in an error: JSON documents and passwords may hold credentials. */
const QUIET = new Set(['beat', 'healthChecker', 'metadata', 'selector', 'password']);

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

/** Reads every parameter of `shape` from `p` (or from the request), or throws naming the first bad one. */
export function readParams<S extends ParamShape>(from: Params | FastifyRequest, shape: S): ParamValues<S> {
  const p = isRequest(from) ? paramsOf(from) : from;
  const out: Record<string, unknown> = {};
  for (const [name, schema] of entriesOf(shape)) {
    const raw = p[name];
    const input = raw === undefined || raw.trim() === '' ? undefined : raw;
    const result = schema.safeParse(input);
    if (result.success) {
      out[name] = result.data;
      continue;
    }
    if (input === undefined) throw required(name);
    throw invalid(name, describe(result.error.issues[0]), QUIET.has(name) ? undefined : input);
  }
  return out as ParamValues<S>;
}

// Shapes are module constants read on every beat: their entries are listed once.
const ENTRIES = new WeakMap<ParamShape, ReadonlyArray<[string, ParamShape[string]]>>();
function entriesOf(shape: ParamShape): ReadonlyArray<[string, ParamShape[string]]> {
  let e = ENTRIES.get(shape);
  if (!e) ENTRIES.set(shape, (e = Object.entries(shape)));
  return e;
}

function isRequest(x: Params | FastifyRequest): x is FastifyRequest {
  return typeof (x as { raw?: unknown }).raw === 'object' && typeof (x as { method?: unknown }).method === 'string';
}

/** A nested issue (inside `beat`, say) names its path: `port must be an integer from 1 to 65535`. */
function describe(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'invalid';
  return issue.path.length > 0 ? `${issue.path.join('.')} ${issue.message}` : issue.message;
}

export function required(name: string): VigilError {
  return new VigilError('VIGIL_ERR_REQUEST_INVALID', `Param '${name}' is required.`, name);
}

export function invalid(name: string, why: string, value?: string): VigilError {
  const shown = value === undefined ? '' : `, got ${JSON.stringify(value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}…` : value)}`;
  return new VigilError('VIGIL_ERR_REQUEST_INVALID', `Param '${name}' is invalid: ${why}${shown}.`, name);
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** A JSON object sent as one parameter: parsed and bounded in nesting before anything walks it. */
export function parseJsonObject(text: string, what = 'must be a JSON object'): Parsed<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'not valid JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, message: what };
  if (jsonDepth(parsed) > MAX_JSON_DEPTH) return { ok: false, message: `nested deeper than ${MAX_JSON_DEPTH} levels` };
  return { ok: true, value: parsed as Record<string, unknown> };
}

/** `parseJsonObject` for callers outside a schema (the healthChecker mapping): throws naming `param`. */
export function jsonObjectParam(text: string, param: string, what = 'must be a JSON object'): Record<string, unknown> {
  const r = parseJsonObject(text, what);
  if (!r.ok) throw invalid(param, r.message);
  return r.value;
}

/** A JSON object whose values are strings; numbers and booleans become their text, as Jackson does. */
export function toStringMap(value: unknown): Parsed<Record<string, string>> {
  if (value === null || value === undefined) return { ok: true, value: {} };
  if (typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'must be an object of strings' };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else return { ok: false, message: `value of "${k}" must be a string` };
  }
  return { ok: true, value: out };
}

/** Metadata as JSON (`{"k":"v"}`, what clients send) or `k=v,k2=v2` (Nacos's console and docs). */
export function parseMetadata(v: string): Parsed<Record<string, string>> {
  const s = v.trim();
  if (s === '') return { ok: true, value: {} };
  if (s.startsWith('{')) {
    const o = parseJsonObject(s);
    return o.ok ? toStringMap(o.value) : o;
  }
  const out: Record<string, string> = {};
  for (const pair of s.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return { ok: false, message: 'must be JSON or k=v pairs separated by commas' };
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return { ok: true, value: out };
}
