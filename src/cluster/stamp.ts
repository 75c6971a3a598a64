/**
 * Ordering of health records between nodes. A record is stamped with the epoch of the shard lease
 * it was decided under and the record's own version (bumped by every decision, see
 * health/state-machine.ts). A higher epoch wins outright: once a shard has a new owner, nothing
 * the previous owner decided may overwrite what the new one decides, whatever the versions say
 * (the new owner continues the stored version, but a paused old owner may have counted on from
 * the same number). Within one epoch there is one writer, so its versions are ordered.
 */
export interface Stamp {
  readonly epoch: number;
  readonly version: number;
}

/** Negative when `a` is older than `b`, positive when newer, 0 when the same. */
export function compareStamps(a: Stamp, b: Stamp): number {
  return a.epoch - b.epoch || a.version - b.version;
}

/** Whether a copy stamped `incoming` should replace the one held (none held: yes). */
export function isNewer(incoming: Stamp, held: Stamp | undefined): boolean {
  return held === undefined || compareStamps(incoming, held) > 0;
}
