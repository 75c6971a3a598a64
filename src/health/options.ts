/** Validating checker options once, at the boundary, into frozen values. */
import type { z } from 'zod';
import { VigilError } from '../errors.js';
import { redact } from '../security/redact.js';
import type { Checker } from './contract.js';

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof RegExp)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Turns the first zod issue into a dotted field path under `prefix`, e.g. `options.expectStatus`. */
export function fieldOf(issue: z.core.$ZodIssue | undefined, prefix: string): string {
  if (!issue) return prefix;
  const keys = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  return [prefix, ...keys.map(String)].filter((s) => s !== '').join('.');
}

export function parseOptions(checker: Checker, raw: unknown, prefix = 'options'): object {
  const result = checker.options.safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = fieldOf(issue, prefix);
    throw new VigilError(
      'VIGIL_ERR_CHECKER_OPTION_INVALID',
      `${checker.type} checker: ${field}: ${issue?.message ?? 'invalid'}`,
      field,
    );
  }
  return deepFreeze(result.data);
}

/** The parts of a JSON schema (as `checkerRegistry.describe()` returns it) that typing pairs reads. */
interface JsonSchema {
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
}

/** Keys that would reach Object.prototype through plain assignment; an empty segment is a typo. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype', '']);

function invalidPair(key: string, why: string): VigilError {
  return new VigilError('VIGIL_ERR_CHECKER_OPTION_INVALID', `option "${key}": ${why}`, `options.${key}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function schemaAt(schema: unknown, path: readonly string[]): JsonSchema | undefined {
  let node = schema as JsonSchema | undefined;
  for (const key of path) {
    const props = node?.properties;
    node = props && Object.hasOwn(props, key) ? props[key] : undefined;
  }
  return node;
}

function acceptsOnlyStrings(schema: JsonSchema | undefined): boolean {
  if (!schema) return false;
  const { type, anyOf, oneOf } = schema;
  if (type !== undefined) return Array.isArray(type) ? type.length > 0 && type.every((t) => t === 'string') : type === 'string';
  const branches = anyOf ?? oneOf;
  return branches !== undefined && branches.length > 0 && branches.every(acceptsOnlyStrings);
}

/**
 * The value of one pair. For an option that takes only strings the text is kept as given, so
 * `password=123` stays a string and `send=PING\r\n` keeps its backslashes; only text in double
 * quotes is JSON-decoded (`send="PING\r\n"` gives a real CR LF). Anything else is typed as JSON
 * when it parses (`n=5`, `tls=false`, `codes=[200,204]`), else kept as a string.
 */
function typedValue(text: string, schema: JsonSchema | undefined): unknown {
  const quoted = text.length >= 2 && text.startsWith('"') && text.endsWith('"');
  if (acceptsOnlyStrings(schema) && !quoted) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Reads `k=v` option strings from the CLI or a flat config into an options object; dotted keys
 * nest (`tls.verify=false`). `schema` is the checker's JSON schema (`checkerRegistry.describe()`);
 * without it every value that parses as JSON is typed.
 */
export function optionsFromPairs(pairs: readonly string[], schema?: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new VigilError('VIGIL_ERR_CHECKER_OPTION_INVALID', `option "${pair}" is not k=v`, 'options');
    const key = pair.slice(0, eq);
    const path = key.split('.');
    const bad = path.find((segment) => FORBIDDEN_SEGMENTS.has(segment));
    if (bad !== undefined) throw invalidPair(key, bad === '' ? 'empty key segment' : `key segment "${bad}" is not allowed`);
    setPath(out, key, path, typedValue(pair.slice(eq + 1), schemaAt(schema, path)));
  }
  return out;
}

/** Sets `path` in `obj`, descending only into own plain-object properties. */
function setPath(obj: Record<string, unknown>, key: string, path: readonly string[], value: unknown): void {
  let node = obj;
  for (const [i, segment] of path.slice(0, -1).entries()) {
    if (!Object.hasOwn(node, segment)) node[segment] = {};
    const next = node[segment];
    if (!isRecord(next)) {
      // Never echo the value: it may be a secret option.
      throw invalidPair(key, `"${path.slice(0, i + 1).join('.')}" is already set to a value that is not an object`);
    }
    node = next;
  }
  node[path.at(-1) ?? key] = value;
}

/** A copy of `options` safe for any output: the shared redaction plus the checker's own secret options. */
export function redactOptions(checker: Checker, options: object): Record<string, unknown> {
  return redact({ ...options }, checker.secretOptions ? { extraKeys: checker.secretOptions } : {});
}
