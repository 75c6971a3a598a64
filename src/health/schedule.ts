/**
 * When to probe next. Pure: the scheduler owns the timers and passes in the health streaks, the
 * response-time average and a `random` source, so every decision is tested with literal numbers.
 *
 * Intervals follow HAProxy: `inter` while steady, `fastinter` while a flip is in progress (so a
 * failing instance is confirmed down in seconds, not `fall` full intervals), `downinter` while down
 * (a dead instance is cheap to leave alone). Adaptive mode is Nacos's: the steady interval follows a
 * clamped moving average of the response time, so slow targets are probed less often.
 */

export interface AdaptivePolicy {
  readonly minMs: number;
  readonly maxMs: number;
  /** Weight of the previous average, in [0, 1): higher is smoother. */
  readonly factor: number;
}

export interface IntervalPolicy {
  /** Steady interval while healthy (HAProxy `inter`). */
  readonly intervalMs: number;
  /** Interval while a flip is in progress (HAProxy `fastinter`). */
  readonly fastIntervalMs: number;
  /** Interval while unhealthy and not recovering (HAProxy `downinter`). */
  readonly downIntervalMs: number;
  /** Each delay is spread by ± this fraction, in [0, 0.5], so probes do not march in step. */
  readonly jitter: number;
  /** When set, the steady interval is the response-time average clamped to [minMs, maxMs]. */
  readonly adaptive?: AdaptivePolicy;
}

export interface StreakView {
  readonly healthy: boolean;
  readonly okStreak: number;
  readonly failStreak: number;
}

export const DEFAULT_POLICY: IntervalPolicy = Object.freeze({
  intervalMs: 5000,
  fastIntervalMs: 1000,
  downIntervalMs: 10_000,
  jitter: 0.1,
});

/** Nacos's adaptive parameters per built-in probe type. */
export const ADAPTIVE_DEFAULTS = Object.freeze({
  tcp: Object.freeze({ minMs: 1000, maxMs: 5000, factor: 0.75 }),
  http: Object.freeze({ minMs: 500, maxMs: 5000, factor: 0.85 }),
  mysql: Object.freeze({ minMs: 2000, maxMs: 3000, factor: 0.65 }),
} as const);

/** Uniform in [0, intervalMs) so a restart with thousands of instances does not probe them all at once. */
export function initialDelay(p: IntervalPolicy, random: () => number): number {
  const ms = Math.floor(random() * p.intervalMs);
  return Math.min(Math.max(ms, 0), Math.max(p.intervalMs - 1, 0));
}

/** The un-jittered delay for the current streaks; `ewmaMs` is used only with an adaptive policy. */
export function baseInterval(p: IntervalPolicy, s: StreakView, ewmaMs?: number): number {
  const transitioning = s.healthy ? s.failStreak > 0 : s.okStreak > 0;
  if (transitioning) return p.fastIntervalMs;
  if (!s.healthy) return p.downIntervalMs;
  if (p.adaptive === undefined) return p.intervalMs;
  return clamp(ewmaMs ?? p.intervalMs, p.adaptive.minMs, p.adaptive.maxMs);
}

/** `ms * (1 + jitter * (2r - 1))` with r = random() in [0, 1), rounded, never below 1 ms. */
export function withJitter(ms: number, jitter: number, random: () => number): number {
  return Math.max(1, Math.round(ms * (1 + jitter * (2 * random() - 1))));
}

/**
 * Nacos: `normalized = f * prev + (1 - f) * rt`, clamped to [minMs, maxMs]. The first sample
 * (no `prev`) becomes the average on its own. Storing the clamped value, as Nacos does, keeps one
 * very slow probe from pinning the interval at the maximum for many rounds.
 */
export function updateEwma(prev: number | undefined, rtMs: number, a: AdaptivePolicy): number {
  const normalized = prev === undefined ? rtMs : a.factor * prev + (1 - a.factor) * rtMs;
  return clamp(normalized, a.minMs, a.maxMs);
}

/**
 * A probe still running when the next one is due is skipped rather than overlapped; each
 * consecutive skip doubles the delay up to `maxMs`, so a target that answers slower than its
 * interval is not queued up. The cap bounds the growth only: a delay already above it is kept.
 */
export function backoffAfterSkip(delayMs: number, consecutiveSkips: number, maxMs: number): number {
  if (consecutiveSkips <= 0) return delayMs;
  // 2^31 overflows no double and is far beyond any sane cap.
  const grown = delayMs * 2 ** Math.min(consecutiveSkips, 31);
  return Math.max(delayMs, Math.min(grown, maxMs));
}

export function nextDelay(p: IntervalPolicy, s: StreakView, random: () => number, ewmaMs?: number): number {
  return withJitter(baseInterval(p, s, ewmaMs), p.jitter, random);
}

/** Returns the path of the first bad field (e.g. `fastIntervalMs`, `adaptive.factor`), or undefined. */
export function validatePolicy(p: IntervalPolicy): string | undefined {
  for (const key of ['intervalMs', 'fastIntervalMs', 'downIntervalMs'] as const) {
    if (!isPositive(p[key])) return key;
  }
  if (!isNumber(p.jitter) || p.jitter < 0 || p.jitter > 0.5) return 'jitter';
  if (p.adaptive === undefined) return undefined;
  const a = p.adaptive;
  if (!isPositive(a.minMs)) return 'adaptive.minMs';
  if (!isPositive(a.maxMs) || a.maxMs < a.minMs) return 'adaptive.maxMs';
  if (!isNumber(a.factor) || a.factor < 0 || a.factor >= 1) return 'adaptive.factor';
  return undefined;
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isPositive(v: unknown): boolean {
  return isNumber(v) && v > 0;
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(Math.max(v, min), max);
}
