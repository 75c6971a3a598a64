/**
 * Self-preservation, decided purely: when many ephemeral instances go silent at once, the likely
 * cause is between them and vigil (a network cut, a paused vigil), not their death, so vigil stops
 * deleting instead of emptying the registry. Nacos has no such guard; Eureka's idea, with two
 * improvements: a burst is judged over a window (a cut expires instances over a whole beat
 * interval, not in one sweep), and the hold is bounded, because a deleted instance that is alive
 * comes back with its next full beat anyway.
 *
 * Unhealthy marking is not held: it is reversible at the next beat and tells consumers the truth
 * ("no beat lately"). Only deletion is held.
 */
export interface PreservationPolicy {
  readonly enabled: boolean;
  /** Below this many ephemeral instances there is no "mass" to protect: expire normally. */
  readonly minInstances: number;
  /** Hold when more than this fraction of the instances would be deleted within the window. */
  readonly maxExpireFraction: number;
  /** Hold when the beats received in the window fall below this fraction of those expected. */
  readonly renewalThreshold: number;
  /** Release a hold that lasted this long (0: hold until the condition clears). */
  readonly maxHoldMs: number;
}

export interface PreservationInput {
  /** Ephemeral instances tracked now (including those due for deletion). */
  readonly population: number;
  /** Instances whose delete deadline has passed now. */
  readonly due: number;
  /** Instances already deleted within the window. */
  readonly deletedInWindow: number;
  readonly beats: number;
  readonly expected: number;
  /** Whether the window has been observed whole (the renewal test waits for that). */
  readonly windowFull: boolean;
}

export type PreservationReason = 'burst' | 'renewals';

export interface PreservationState {
  /** Deletion is held now. */
  readonly engaged: boolean;
  /** Why protection is wanted (also set while `exhausted`), null when it is not. */
  readonly reason: PreservationReason | null;
  /** When the current hold began (ms epoch), null when none. */
  readonly since: number | null;
  /** The hold outlasted `maxHoldMs`: deleting again until the condition clears. */
  readonly exhausted: boolean;
}

export const IDLE: PreservationState = Object.freeze({ engaged: false, reason: null, since: null, exhausted: false });

/** The condition alone, without history: which reason (if any) asks for a hold. */
export function wantedReason(input: PreservationInput, policy: PreservationPolicy): PreservationReason | null {
  if (!policy.enabled || input.population < policy.minInstances) return null;
  const base = input.population + input.deletedInWindow;
  if (input.due > 0 && input.due + input.deletedInWindow > policy.maxExpireFraction * base) return 'burst';
  if (input.windowFull && input.expected >= 1 && input.beats < policy.renewalThreshold * input.expected) return 'renewals';
  return null;
}

/** The next state, from the previous one, what the sweep sees now, and `now` (ms). */
export function decidePreservation(
  prev: PreservationState,
  input: PreservationInput,
  policy: PreservationPolicy,
  now: number,
): PreservationState {
  const reason = wantedReason(input, policy);
  if (reason === null) return IDLE;
  const since = prev.since ?? now;
  if (prev.exhausted || (policy.maxHoldMs > 0 && now - since >= policy.maxHoldMs)) {
    return { engaged: false, reason, since, exhausted: true };
  }
  return { engaged: true, reason, since, exhausted: false };
}

/** What changed between two states, for the log and the event stream; undefined when nothing did. */
export function transitionOf(prev: PreservationState, next: PreservationState): 'engaged' | 'released' | 'exhausted' | undefined {
  if (!prev.engaged && next.engaged) return 'engaged';
  if (prev.engaged && !next.engaged) return next.exhausted ? 'exhausted' : 'released';
  return undefined;
}
