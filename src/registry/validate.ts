/**
 * Validation at the boundary: every registration, whether from the native API, the Nacos API or
 * the store, becomes an Instance here or is refused with a VigilError naming the bad field.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import type { CheckerRegistry } from '../health/checker-registry.js';
import type { Checker } from '../health/contract.js';
import { fieldOf } from '../health/options.js';
import { checkJsonBounds, MAX_OPTIONS_BYTES } from './limits.js';
import { NAME_PATTERN, NAME_RULE } from './names.js';
import { DEFAULT_CLUSTER, DEFAULT_GROUP, DEFAULT_NAMESPACE, type CheckerConfig, type Instance } from './model.js';

export const nameSchema = z.string().regex(NAME_PATTERN, NAME_RULE);
export const ipSchema = z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address');
export const portSchema = z.number().int().min(1).max(65535);
export const weightSchema = z.number().min(0).max(10000);
const msSchema = z.number().int().positive();

export const checkerInputSchema = z.strictObject({
  type: z.string(),
  options: z.record(z.string(), z.unknown()).default({}),
  intervalMs: msSchema.optional(),
  timeoutMs: msSchema.optional(),
  fastIntervalMs: msSchema.optional(),
  downIntervalMs: msSchema.optional(),
  rise: z.number().int().min(1).max(100).optional(),
  fall: z.number().int().min(1).max(100).optional(),
  port: portSchema.optional(),
});

/** The fields that name one instance, with Nacos's defaults. */
export const instanceIdShape = {
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  group: nameSchema.default(DEFAULT_GROUP),
  service: nameSchema,
  cluster: nameSchema.default(DEFAULT_CLUSTER),
  ip: ipSchema,
  port: portSchema,
};

export const instanceInputSchema = z.strictObject({
  ...instanceIdShape,
  weight: weightSchema.default(1),
  enabled: z.boolean().default(true),
  ephemeral: z.boolean().default(false),
  metadata: z.record(z.string(), z.string()).default({}),
  checker: checkerInputSchema.optional(),
  initialHealthy: z.boolean().optional(),
});

export type InstanceInput = z.input<typeof instanceInputSchema>;

/** Parses with a zod schema; the first issue becomes a VigilError naming its field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = fieldOf(issue, prefix) || 'body';
  throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `${field}: ${issue?.message ?? 'invalid'}`, field);
}

export interface ValidationLimits {
  readonly maxMetadataBytes: number;
}

/** Instance and service metadata, and Nacos selectors: at most `registry.maxMetadataBytes` as JSON. */
export function checkMetadataSize(metadata: unknown, limits: ValidationLimits, field = 'metadata'): void {
  checkJsonBounds(metadata, field, limits.maxMetadataBytes);
}

/**
 * Where a checker config comes from, which decides what it may hold. A config from an API may not
 * make the daemon read a file or an environment variable; a config that applies to every target
 * (the default checker) may hold no secret at all: a secret must go only to targets it was meant
 * for, so it belongs in a named credential with `hosts`.
 */
export interface CheckerPolicy {
  readonly fromApi: boolean;
  readonly anyTarget?: boolean;
  readonly credentials: { has(name: string): boolean };
}

function refuseOptions(checker: Checker, options: Record<string, unknown>, policy: CheckerPolicy, prefix: string): void {
  const forbidden = [...(policy.fromApi || policy.anyTarget ? (checker.operatorOnlyOptions ?? []) : []), ...(policy.anyTarget ? (checker.secretOptions ?? []) : [])];
  const key = forbidden.find((k) => options[k] !== undefined);
  if (key === undefined) return;
  const why = policy.anyTarget
    ? 'a checker that applies to every target may hold no secret; use a named credential with hosts'
    : 'makes the daemon read a file or an environment variable, which only the operator\'s config may; use a named credential';
  throw new VigilError('VIGIL_ERR_CHECKER_OPTION_FORBIDDEN', `${prefix}.options.${key}: ${why}`, `${prefix}.options.${key}`);
}

/** Validates a checker config against the loaded checker types and `policy`; options come back frozen. */
export function parseCheckerConfig(checkers: CheckerRegistry, input: unknown, policy: CheckerPolicy, prefix = 'checker'): CheckerConfig {
  const raw = parseOrThrow(checkerInputSchema, input, prefix);
  if (!checkers.has(raw.type)) {
    throw new VigilError(
      'VIGIL_ERR_CHECKER_UNKNOWN_TYPE',
      `${prefix}.type: unknown checker type "${raw.type}" (loaded: ${checkers.types().join(', ')})`,
      `${prefix}.type`,
    );
  }
  if (raw.timeoutMs !== undefined && raw.intervalMs !== undefined && raw.timeoutMs >= raw.intervalMs) {
    throw new VigilError('VIGIL_ERR_REQUEST_INVALID', `${prefix}.timeoutMs must be shorter than intervalMs`, `${prefix}.timeoutMs`);
  }
  // Bounded for every checker, plugins included, before the checker's own schema sees them.
  checkJsonBounds(raw.options, `${prefix}.options`, MAX_OPTIONS_BYTES);
  const { options, ...rest } = raw;
  refuseOptions(checkers.get(raw.type), options, policy, prefix);
  const parsed = checkers.parseOptions(raw.type, options, `${prefix}.options`);
  const credential = (parsed as { credential?: unknown }).credential;
  if (typeof credential === 'string' && !policy.credentials.has(credential)) {
    throw new VigilError('VIGIL_ERR_CREDENTIAL_UNKNOWN', `${prefix}.options.credential: no credential "${credential}" is configured`, `${prefix}.options.credential`);
  }
  return Object.freeze({ ...stripUndefined(rest), options: parsed }) as CheckerConfig;
}

export function parseInstance(
  checkers: CheckerRegistry,
  input: unknown,
  limits: ValidationLimits,
  policy: CheckerPolicy,
  now: number,
): Instance {
  const raw = parseOrThrow(instanceInputSchema, input);
  checkMetadataSize(raw.metadata, limits);
  const checker = raw.checker === undefined ? undefined : parseCheckerConfig(checkers, raw.checker, policy);
  const { checker: _c, ...rest } = raw;
  return Object.freeze({
    ...stripUndefined(rest),
    ...(checker ? { checker } : {}),
    metadata: Object.freeze({ ...raw.metadata }),
    registeredAt: now,
  }) as Instance;
}

export function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
