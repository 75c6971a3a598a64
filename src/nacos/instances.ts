/**
 * Instances made from Nacos requests: frozen `Instance` values, validated before anything changes.
 * Names repeat across thousands of instances (namespace, group, service, cluster), so they are
 * interned: 100k ephemeral instances share a handful of strings instead of holding 400k copies.
 */
import { VigilError } from '../errors.js';
import { checkTimeouts, parseTimeouts, resolveTimeouts, type BeatTimeouts } from '../beat/timeouts.js';
import type { Instance, InstanceId } from '../registry/model.js';
import { checkMetadataSize, type ValidationLimits } from '../registry/validate.js';
import { invalid } from './params.js';

export interface Interner {
  intern(s: string): string;
}

/** Interns up to `max` distinct strings; past that, strings are used as they come. */
export function createInterner(max = 65_536): Interner {
  const seen = new Map<string, string>();
  return {
    intern(s) {
      const known = seen.get(s);
      if (known !== undefined) return known;
      if (seen.size < max) seen.set(s, s);
      return s;
    },
  };
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

export interface InstanceParts extends InstanceId {
  readonly weight: number;
  readonly enabled: boolean;
  readonly ephemeral: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  readonly initialHealthy?: boolean;
}

export interface InstanceFactoryDeps {
  readonly limits: ValidationLimits;
  readonly interner: Interner;
  /** Beat timeouts in force, to check `preserved.*` metadata against. */
  readonly beatDefaults: () => BeatTimeouts;
}

/** Checks metadata size and `preserved.*` timeouts; throws a 400 naming `param`. */
export function checkMetadata(metadata: Readonly<Record<string, string>>, deps: InstanceFactoryDeps, param = 'metadata'): void {
  try {
    checkMetadataSize({ ...metadata }, deps.limits);
  } catch (err) {
    throw invalid(param, (err as VigilError).message.replace(/^metadata: /, ''));
  }
  const parsed = parseTimeouts(metadata);
  if (!parsed.ok) throw invalid(param, parsed.message);
  const problem = parsed.value && checkTimeouts(resolveTimeouts(parsed.value, deps.beatDefaults()));
  if (problem) throw invalid(param, problem);
}

/** A frozen Instance; bad metadata is reported under `param` (where the client sent it). */
export function makeInstance(parts: InstanceParts, deps: InstanceFactoryDeps, now: number, param = 'metadata'): Instance {
  checkMetadata(parts.metadata, deps, param);
  const { intern } = deps.interner;
  const metadata = Object.keys(parts.metadata).length === 0 ? EMPTY : Object.freeze({ ...parts.metadata });
  return Object.freeze({
    namespace: intern(parts.namespace),
    group: intern(parts.group),
    service: intern(parts.service),
    cluster: intern(parts.cluster),
    ip: parts.ip,
    port: parts.port,
    weight: parts.weight,
    enabled: parts.enabled,
    ephemeral: parts.ephemeral,
    metadata,
    ...(parts.initialHealthy !== undefined ? { initialHealthy: parts.initialHealthy } : {}),
    registeredAt: now,
  });
}
