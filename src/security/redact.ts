/**
 * Redaction: the one function every output boundary uses (API answers, error messages, the CLI,
 * log lines). Structured values lose every secret-named key (`password`, `pwd`, tokens, credential
 * references, all header values) and any extra keys a checker declares secret; text loses
 * `key=value` and `"key":"value"` pairs of those names, bearer tokens, and the exact secrets the
 * daemon knows from its config.
 */
export const MASK = '***';

const SECRET_NAMES = ['password', 'passwd', 'pwd', 'secret', 'token', 'accesstoken', 'authorization', 'cookie', 'credential', 'apikey', 'api_key'];
const SECRET_KEY = new RegExp(`^(${SECRET_NAMES.join('|')})$`, 'i');
const NAMES = SECRET_NAMES.join('|');
// "pwd":"x" and \"pwd\":\"x\" (JSON inside a JSON string), then pwd=x / pwd: x up to a separator.
const JSON_PAIR = new RegExp(`(\\\\?"(?:${NAMES})\\\\?"\\s*:\\s*\\\\?")((?:[^"\\\\]|\\\\(?!"))*)`, 'gi');
const KV_PAIR = new RegExp(`(\\b(?:${NAMES})\\s*[=:]\\s*)(?!\\\\?")((?:Bearer\\s+)?[^\\s&,;"'}\\]]+)`, 'gi');
const BEARER = /(\bBearer\s+)[^\s"',;]+/gi;

/** Exact secret values to remove from text, besides the patterns (the token, user and credential passwords). */
export interface KnownSecrets {
  readonly values: ReadonlySet<string>;
}

export function knownSecrets(values: Iterable<string | undefined>): KnownSecrets {
  // Very short values would mask ordinary words; config secrets are longer than this anyway.
  return { values: new Set([...values].filter((v): v is string => typeof v === 'string' && v.length >= 4)) };
}

function redactText(text: string, known?: KnownSecrets): string {
  let out = text.replace(JSON_PAIR, `$1${MASK}`).replace(KV_PAIR, `$1${MASK}`).replace(BEARER, `$1${MASK}`);
  if (known) for (const secret of known.values) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

function redactValue(value: unknown, extraKeys: ReadonlySet<string>, known: KnownSecrets | undefined, depth: number): unknown {
  if (typeof value === 'string') return redactText(value, known);
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, extraKeys, known, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (SECRET_KEY.test(k) || extraKeys.has(k)) out[k] = MASK;
    else if (k.toLowerCase() === 'headers' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.keys(v).map((name) => [name, MASK]));
    } else out[k] = redactValue(v, extraKeys, known, depth + 1);
  }
  return out;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * A copy of `value` safe to show: strings are scrubbed, objects walked. `extraKeys` are further
 * secret option names (a checker's `secretOptions`); `known` are exact values to scrub from text.
 */
export function redact<T>(value: T, opts: { extraKeys?: readonly string[]; known?: KnownSecrets } = {}): T {
  const extra = opts.extraKeys && opts.extraKeys.length > 0 ? new Set(opts.extraKeys) : NONE;
  return redactValue(value, extra, opts.known, 0) as T;
}
