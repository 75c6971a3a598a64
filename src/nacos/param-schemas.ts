/**
 * The schemas of the Nacos parameters, each bounded (docs/nacos.md lists the bounds). Names and
 * addresses use the native API's rules (registry/validate.ts, registry/names.ts), so a name valid in
 * one API is valid in the other. Every schema reads the string a client sent, or `undefined` when it
 * was absent or blank (then `.optional()` or `.default()` decide).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_CLUSTER, DEFAULT_GROUP, DEFAULT_NAMESPACE } from '../registry/model.js';
import { checkJsonBounds, MAX_LIST_ITEMS, MAX_OPTIONS_BYTES } from '../registry/limits.js';
import { isName, NAME_RULE } from '../registry/names.js';
import { ipSchema, nameSchema, type ValidationLimits } from '../registry/validate.js';
import { parseJsonObject, parseMetadata, readParams, toStringMap, type Params, type Parsed } from './params.js';

/** Longest `GROUP@@name`: two names and the separator. */
export const MAX_SERVICE_NAME_CHARS = 128 * 2 + 2;
/** Longest single-value parameter that is not a name or a JSON document (a number, a bool, a switch). */
export const MAX_SCALAR_CHARS = 64;
/** Longest credential parameter (`username`, `password`). */
export const MAX_USERNAME_CHARS = 128;
export const MAX_PASSWORD_CHARS = 1024;
/** Largest page of `service/list`. */
export const MAX_PAGE_SIZE = 10_000;

const SERVICE_RULE = 'must be NAME or GROUP@@NAME, each 1-128 of A-Z a-z 0-9 _ . : -';
const PORT_RULE = 'must be an integer from 1 to 65535';
const WEIGHT_RULE = 'must be a number from 0 to 10000';

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

/** A text parameter turned into a value by `parse`, refused with its message. */
const parsedText = <T>(max: number, parse: (s: string) => Parsed<T>) =>
  text(max).transform((s, ctx) => {
    const r = parse(s);
    if (r.ok) return r.value;
    ctx.issues.push({ code: 'custom', message: r.message, input: s });
    return z.NEVER;
  });

export const intIn = (min: number, max: number) =>
  parsedText(MAX_SCALAR_CHARS, (s): Parsed<number> => {
    const n = /^-?\d{1,15}$/.test(s.trim()) ? Number(s) : NaN;
    return n >= min && n <= max ? { ok: true, value: n } : { ok: false, message: `must be an integer from ${min} to ${max}` };
  });

export const decimalIn = (min: number, max: number) =>
  parsedText(MAX_SCALAR_CHARS, (s): Parsed<number> => {
    const n = /^\d{1,15}(\.\d{1,15})?$/.test(s.trim()) ? Number(s) : NaN;
    return n >= min && n <= max ? { ok: true, value: n } : { ok: false, message: `must be a number from ${min} to ${max}` };
  });

export const bool = parsedText(MAX_SCALAR_CHARS, (s): Parsed<boolean> => {
  const v = s.trim().toLowerCase();
  return v === 'true' || v === 'false' ? { ok: true, value: v === 'true' } : { ok: false, message: 'must be true or false' };
});

export const port = parsedText(MAX_SCALAR_CHARS, (s): Parsed<number> => {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  return n >= 1 && n <= 65535 ? { ok: true, value: n } : { ok: false, message: PORT_RULE };
});
export const weight = decimalIn(0, 10_000);
export const ip = text(45).pipe(ipSchema);
export const name = nameSchema;

export interface ServiceName {
  /** The group when `serviceName` was grouped (`GROUP@@name`). */
  readonly group: string | undefined;
  readonly service: string;
  /** `serviceName` exactly as sent (list answers must echo it). */
  readonly raw: string;
}

export const serviceName = parsedText(MAX_SERVICE_NAME_CHARS, (raw): Parsed<ServiceName> => {
  const at = raw.indexOf('@@');
  const group = at >= 0 ? raw.slice(0, at) : undefined;
  const service = at >= 0 ? raw.slice(at + 2) : raw;
  if ((group !== undefined && !isName(group)) || !isName(service)) return { ok: false, message: SERVICE_RULE };
  return { ok: true, value: { group, service, raw } };
});

/** Cluster names separated by commas (`instance/list`), at most MAX_LIST_ITEMS; kept as sent. */
export const clusterList = text(MAX_LIST_ITEMS * 129).refine((s) => {
  const names = s.split(',').map((c) => c.trim()).filter((c) => c !== '');
  return names.length <= MAX_LIST_ITEMS && names.every(isName);
}, `must be at most ${MAX_LIST_ITEMS} cluster names separated by commas`);

/** The parameters that name a service; `serviceOf` turns them into a ServiceRef. */
export const SERVICE = {
  serviceName,
  groupName: name.default(DEFAULT_GROUP),
  namespaceId: name.default(DEFAULT_NAMESPACE),
};

export interface ServiceRef {
  readonly namespace: string;
  readonly group: string;
  readonly service: string;
  /** `serviceName` exactly as sent (list answers must echo it). */
  readonly raw: string;
}

/** A grouped `serviceName` wins over `groupName`, as in Nacos. */
export function serviceRef(v: { serviceName: ServiceName; groupName: string; namespaceId: string }): ServiceRef {
  return { namespace: v.namespaceId, group: v.serviceName.group ?? v.groupName, service: v.serviceName.service, raw: v.serviceName.raw };
}

/** The parameters that place an instance within its service. */
export const ADDRESS = { clusterName: name.default(DEFAULT_CLUSTER), ip, port };
/** The parameters that name one instance. */
export const INSTANCE = { ...SERVICE, ...ADDRESS };

/** Bounds that depend on the config (`registry.maxMetadataBytes`). */
export function documentSchemas(limits: ValidationLimits) {
  const maxBytes = limits.maxMetadataBytes;
  // Escapes can double a value's length on the wire; anything longer cannot fit the bound.
  const maxChars = maxBytes * 2 + 1024;
  const bounded = <T>(r: Parsed<T>): Parsed<T> => {
    if (!r.ok) return r;
    try {
      checkJsonBounds(r.value, 'value', maxBytes);
    } catch (err) {
      return { ok: false, message: (err as Error).message.replace(/^value: /, '') };
    }
    return r;
  };
  return {
    metadata: parsedText(maxChars, (s) => bounded(parseMetadata(s))),
    selector: parsedText(maxChars, (s) => bounded(parseJsonObject(s))),
    beat: parsedText(maxChars + 1024, (s) => parseJsonObject(s)).pipe(beatBody),
  };
}

/** The `healthChecker` JSON, mapped by health-checker.ts; the options inside are bounded again as checker options. */
export const healthChecker = text(MAX_OPTIONS_BYTES * 2);

const portValue = z
  .union([z.number(), z.string().regex(/^\d{1,5}$/).transform(Number)], { error: PORT_RULE })
  .refine((n) => Number.isInteger(n) && n >= 1 && n <= 65535, PORT_RULE);
const weightValue = z
  .union([z.number(), z.string().regex(/^\d{1,15}(\.\d{1,15})?$/).transform(Number)], { error: WEIGHT_RULE })
  .refine((n) => n >= 0 && n <= 10_000, WEIGHT_RULE);

/** The npm client's full beat: {serviceName, ip, port, cluster, weight, metadata, scheduled}; other keys are ignored. */
const beatBody = z.object({
  ip: z.string({ error: 'must be an IPv4 or IPv6 address' }).refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address'),
  port: portValue,
  cluster: z
    .string({ error: NAME_RULE })
    .nullish()
    .transform((c) => (c === undefined || c === null || c === '' ? DEFAULT_CLUSTER : c))
    .pipe(z.string().refine(isName, NAME_RULE)),
  weight: weightValue.nullish().transform((w) => w ?? undefined),
  metadata: z
    .unknown()
    .transform((m, ctx) => {
      const r = toStringMap(m);
      if (r.ok) return r.value;
      ctx.issues.push({ code: 'custom', message: r.message, input: m });
      return z.NEVER;
    })
    .optional(),
});

export type BeatBody = z.output<typeof beatBody>;

/** The service a request names (grouped or bare `serviceName`, `groupName`, `namespaceId`). */
export function serviceOf(p: Params): ServiceRef {
  return serviceRef(readParams(p, SERVICE));
}
