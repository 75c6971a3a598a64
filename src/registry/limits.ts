/**
 * Bounds on free-form input (metadata, selectors, checker options, request bodies), shared by the
 * native and Nacos APIs so that both refuse the same things the same way: a 400 naming the field,
 * never a RangeError from a recursive walk over a hostile value.
 */
import { VigilError } from '../errors.js';

/** Deepest nesting accepted in any JSON value from a client (objects and arrays count one level each). */
export const MAX_JSON_DEPTH = 16;
/** Longest free text: an HTTP path, a query, an expected body text, a header value. */
export const MAX_TEXT_CHARS = 4096;
/** Most items in a list a client sends (status lists, header maps, service lists). */
export const MAX_LIST_ITEMS = 64;
/** Largest checker options as JSON, whatever the checker (plugins included). */
export const MAX_OPTIONS_BYTES = 16_384;

/** The depth of a JSON value, walked without recursion; stops counting past `limit`. */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const d = depth + 1;
    if (d > deepest) deepest = d;
    if (d > limit) return d;
    for (const child of Object.values(v)) stack.push([child, d]);
  }
  return deepest;
}

/** Refuses a value nested deeper than MAX_JSON_DEPTH or larger than `maxBytes` as JSON. */
export function checkJsonBounds(value: unknown, field: string, maxBytes?: number): void {
  if (jsonDepth(value) > MAX_JSON_DEPTH) {
    throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `${field}: nested deeper than ${MAX_JSON_DEPTH} levels`, field);
  }
  if (maxBytes !== undefined) {
    const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
    if (bytes > maxBytes) throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `${field}: ${bytes} bytes exceeds the limit of ${maxBytes}`, field);
  }
}
