/**
 * The public checker contract. A checker makes exactly one attempt against one target, honours the
 * AbortSignal it is given and returns a verdict with a stable reason code. The runner (runner.ts)
 * owns the deadline, timing and error mapping; the state machine owns thresholds and flips.
 */
import type { z } from 'zod';

/** `ok`: healthy. `fail`: counted towards the fall threshold. `fail-now`: definitive, flips at once. */
export type Verdict = 'ok' | 'fail' | 'fail-now';

export type Fact = string | number | boolean;

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly service?: string;
  readonly cluster?: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Connections a checker reuses between probes (an HTTP keep-alive client, a MySQL connection).
 * The framework owns their lifetime: idle ones are closed, a removed target's are closed, all are
 * closed at shutdown. A checker therefore keeps no module-level state.
 */
export interface ResourceCache {
  /** The resource under `key`, created on first use. `key` must start with `host:port`. */
  use<T>(key: string, create: () => T, dispose: (resource: T) => void | Promise<void>): T;
  /**
   * Closes and forgets the resource under `key` (call it when the resource failed). With
   * `resource`, only if that very resource is still the one cached: another probe may have
   * evicted it and cached a fresh one meanwhile, which must not be closed.
   */
  evict(key: string, resource?: unknown): Promise<void>;
}

/**
 * A named credential from the operator's config, resolved for this probe's target. The runner
 * passes it only when the target is inside the credential's allowed hosts.
 */
export interface Credential {
  readonly name: string;
  readonly user?: string;
  readonly password?: string;
  /** PEM of the server's RSA public key, pinned by the operator (MySQL caching_sha2 / sha256 auth). */
  readonly serverPublicKey?: string;
}

export interface CheckContext<O> {
  readonly target: Target;
  /** Validated, defaults applied, frozen. */
  readonly options: O;
  /** Aborted when the time budget is spent or the daemon stops. */
  readonly signal: AbortSignal;
  /** The whole budget of this probe, in milliseconds. */
  readonly timeoutMs: number;
  /** `performance.now()` value by which the probe must have ended. */
  readonly deadline: number;
  readonly resources: ResourceCache;
  /** Present when the options name a `credential` and this target may receive it. */
  readonly credential?: Credential;
  /**
   * Asks for another probe of this target soon. Call it when a connection kept between probes is
   * closed by the other side: the target probably went away, and waiting for the next interval
   * would leave the registry wrong meanwhile. Absent in one-off runs (`vigil check`).
   */
  readonly wake?: (() => void) | undefined;
}

export interface CheckOutcome {
  readonly status: Verdict;
  /** Stable, machine-readable: `connected`, `refused`, `timeout`, `status`, `auth`, `replica`, … */
  readonly reason: string;
  /** Human text: the HTTP status line, the server's error message. Never a secret. */
  readonly detail?: string;
  /** Optional facts, e.g. `{ role: 'primary' }` or `{ httpStatus: 200 }`. */
  readonly facts?: Readonly<Record<string, Fact>>;
}

/** What the runner returns: the checker's outcome plus what the framework measured. */
export interface ProbeResult extends CheckOutcome {
  readonly type: string;
  readonly latencyMs: number;
  /** Wall-clock time (ms since epoch) when the probe started. */
  readonly startedAt: number;
}

/** Any zod schema whose input is an object of options; defaults live in the schema. */
export type OptionsSchema = z.ZodType<object>;

export interface CheckerDefinition<S extends OptionsSchema = OptionsSchema> {
  /** Lower-case name, e.g. `http`; for a built-in, equal to its file name. */
  readonly type: string;
  readonly description?: string;
  /** Validates options and holds their defaults; reject unknown keys (`z.strictObject`). */
  readonly options: S;
  /** Option keys holding secrets: shown as `***` in every listing, log and error. */
  readonly secretOptions?: readonly string[];
  /**
   * Option keys that make the daemon read a file or an environment variable: accepted from the
   * operator's config and the CLI, refused when a checker config arrives over an API.
   */
  readonly operatorOnlyOptions?: readonly string[];
  check(ctx: CheckContext<z.output<S>>): Promise<CheckOutcome>;
}

export const CHECKER_BRAND: unique symbol = Symbol.for('vigil.checker');

export type Checker<S extends OptionsSchema = OptionsSchema> = CheckerDefinition<S> & {
  readonly [CHECKER_BRAND]: true;
};

const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** Declares a checker. Plugins default-export the value this returns. */
export function defineChecker<S extends OptionsSchema>(definition: CheckerDefinition<S>): Checker<S> {
  if (typeof definition?.type !== 'string' || !TYPE_PATTERN.test(definition.type)) {
    throw new TypeError(`checker type must match ${TYPE_PATTERN}, got ${String(definition?.type)}`);
  }
  if (typeof definition.check !== 'function') throw new TypeError(`checker ${definition.type}: check must be a function`);
  if (typeof definition.options?.safeParse !== 'function') {
    throw new TypeError(`checker ${definition.type}: options must be a zod schema`);
  }
  for (const list of ['secretOptions', 'operatorOnlyOptions'] as const) {
    const keys: unknown = definition[list];
    if (keys !== undefined && !(Array.isArray(keys) && keys.every((k) => typeof k === 'string'))) {
      throw new TypeError(`checker ${definition.type}: ${list} must be an array of option names`);
    }
  }
  return Object.freeze({ ...definition, [CHECKER_BRAND]: true as const });
}

export function isChecker(value: unknown): value is Checker {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CHECKER_BRAND] === true;
}
