/**
 * How long an ephemeral instance may stay silent. Nacos's defaults (beat every 5 s, unhealthy after
 * 15 s, deleted after 30 s) can be overridden per instance through `preserved.*` metadata, in ms.
 * Pure: parsing and resolving take the defaults as arguments.
 */
export interface BeatTimeouts {
  /** How often the client is told to beat (`clientBeatInterval`). */
  readonly intervalMs: number;
  /** Silent this long: unhealthy. */
  readonly heartbeatTimeoutMs: number;
  /** Silent this long: deleted. */
  readonly deleteTimeoutMs: number;
}

/** The metadata keys Nacos reads, mapped to our field names. */
export const PRESERVED = {
  intervalMs: 'preserved.heart.beat.interval',
  heartbeatTimeoutMs: 'preserved.heart.beat.timeout',
  deleteTimeoutMs: 'preserved.ip.delete.timeout',
} as const satisfies Record<keyof BeatTimeouts, string>;

/** A day: longer timeouts are surely a typo (and would hide a dead instance for days). */
export const MAX_TIMEOUT_MS = 86_400_000;

export type PartialTimeouts = { -readonly [K in keyof BeatTimeouts]?: number };

export type TimeoutsResult = { ok: true; value: PartialTimeouts | undefined } | { ok: false; key: string; message: string };

/**
 * Reads the `preserved.*` overrides of one instance. `value` is undefined when none is set (the
 * common case, so the beat module stores nothing for it). Values must be whole milliseconds.
 */
export function parseTimeouts(metadata: Readonly<Record<string, string>>): TimeoutsResult {
  let out: PartialTimeouts | undefined;
  for (const field of Object.keys(PRESERVED) as Array<keyof BeatTimeouts>) {
    const key = PRESERVED[field];
    const raw = metadata[key];
    if (raw === undefined) continue;
    const n = /^\d{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!(n >= 1 && n <= MAX_TIMEOUT_MS)) {
      return { ok: false, key, message: `${key} must be whole milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(raw)}` };
    }
    (out ??= {})[field] = n;
  }
  return { ok: true, value: out };
}

export function resolveTimeouts(own: PartialTimeouts | undefined, defaults: BeatTimeouts): BeatTimeouts {
  if (own === undefined) return defaults;
  return {
    intervalMs: own.intervalMs ?? defaults.intervalMs,
    heartbeatTimeoutMs: own.heartbeatTimeoutMs ?? defaults.heartbeatTimeoutMs,
    deleteTimeoutMs: own.deleteTimeoutMs ?? defaults.deleteTimeoutMs,
  };
}

/**
 * Nacos's rule, made explicit: the client must beat more often than the heartbeat timeout, and an
 * instance turns unhealthy before (or when) it is deleted. Returns a message, or undefined when sound.
 */
export function checkTimeouts(t: BeatTimeouts): string | undefined {
  if (t.intervalMs >= t.heartbeatTimeoutMs) {
    return `${PRESERVED.intervalMs} (${t.intervalMs}) must be shorter than ${PRESERVED.heartbeatTimeoutMs} (${t.heartbeatTimeoutMs})`;
  }
  if (t.heartbeatTimeoutMs > t.deleteTimeoutMs) {
    return `${PRESERVED.heartbeatTimeoutMs} (${t.heartbeatTimeoutMs}) must not exceed ${PRESERVED.deleteTimeoutMs} (${t.deleteTimeoutMs})`;
  }
  return undefined;
}
