/**
 * The expiry decisions of the beat module, pure and in milliseconds.
 *
 * Time here is the beat module's *virtual* time: wall time minus every stall the process itself
 * suffered (GC pause, SIGSTOP, an overloaded host). A silent instance is judged by how long it was
 * silent while vigil was able to listen, so a stalled vigil does not count its own stall against
 * the instances: every deadline is extended by the stall, as if the stall had not happened.
 */
import type { BeatTimeouts } from './timeouts.js';

export type Stage = 'alive' | 'unhealthy' | 'expired';

/** Where an instance that last beat at `lastBeat` stands at `now` (both virtual). */
export function stageOf(lastBeat: number, t: BeatTimeouts, now: number): Stage {
  const silent = now - lastBeat;
  if (silent >= t.deleteTimeoutMs) return 'expired';
  if (silent >= t.heartbeatTimeoutMs) return 'unhealthy';
  return 'alive';
}

/**
 * The stall between two observations of the clock by a live process. While vigil runs, it looks at
 * the clock at least once per sweep interval (the sweep timer), so a longer gap means the process
 * could not run: the part beyond one interval is the stall. Gaps within `toleranceMs` of the
 * interval are ordinary timer lateness and count as nothing; a clock that went back counts as nothing.
 */
export function stallOf(previousAt: number, at: number, maxGapMs: number, toleranceMs: number): number {
  const gap = at - previousAt;
  return gap > maxGapMs + toleranceMs ? gap - maxGapMs : 0;
}
