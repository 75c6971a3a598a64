/** Validating checker options once, at the boundary, into frozen values. */
import type { z } from 'zod';
import { VigilError } from '../errors.js';
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

/**
 * Reads `k=v` option strings from the CLI or a flat config: a value that parses as JSON (numbers,
 * booleans, arrays) is taken as such, anything else as a string.
 */
export function optionsFromPairs(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new VigilError('VIGIL_ERR_CHECKER_OPTION_INVALID', `option "${pair}" is not k=v`, 'options');
    const key = pair.slice(0, eq);
    const text = pair.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // not JSON: keep the string
    }
    setPath(out, key.split('.'), value);
  }
  return out;
}

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  const [head, ...rest] = keys;
  if (head === undefined) return;
  if (rest.length === 0) {
    obj[head] = value;
    return;
  }
  const next = (obj[head] ??= {}) as Record<string, unknown>;
  setPath(next, rest, value);
}

/** A copy of `options` with the checker's secret options replaced by `***`, for any output. */
export function redactOptions(checker: Checker, options: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...options };
  for (const key of checker.secretOptions ?? []) if (out[key] !== undefined) out[key] = '***';
  return out;
}
