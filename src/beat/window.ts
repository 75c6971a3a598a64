/**
 * A sliding window of what the beat module saw: beats received, beats expected and instances
 * deleted, in buckets of one sweep interval of virtual time. Bookkeeping only; the decisions that
 * read it are in preservation.ts. Time is passed in, so tests drive it with literal numbers.
 *
 * "Expected" is integrated bucket by bucket from the rate of the instances tracked at the time
 * (Σ 1/interval), so a newly registered instance is expected to beat only from when it arrived.
 */
export interface WindowTotals {
  readonly beats: number;
  readonly expected: number;
  readonly deleted: number;
  /** True once a whole window of buckets has been closed since the window began. */
  readonly full: boolean;
}

export interface RenewalWindow {
  /** Counts beats into the open bucket. */
  beat(n?: number): void;
  /** Counts deletions into the open bucket. */
  deleted(n: number): void;
  /** Closes every bucket that ended by `at`, each expecting `ratePerMs` × bucket length beats. */
  advance(at: number, ratePerMs: number): void;
  /** Sums over the closed buckets of the window, plus the deletions of the open one. */
  totals(): WindowTotals;
}

export function createRenewalWindow(windowMs: number, bucketMs: number, startAt: number): RenewalWindow {
  const size = Math.max(1, Math.ceil(windowMs / bucketMs));
  const beats = new Float64Array(size);
  const expected = new Float64Array(size);
  const deleted = new Float64Array(size);
  let openBeats = 0;
  let openDeleted = 0;
  let openStart = startAt;
  let next = 0;
  let closed = 0;

  const close = (ratePerMs: number): void => {
    beats[next] = openBeats;
    expected[next] = ratePerMs * bucketMs;
    deleted[next] = openDeleted;
    next = (next + 1) % size;
    closed++;
    openBeats = 0;
    openDeleted = 0;
    openStart += bucketMs;
  };

  return {
    beat(n = 1) {
      openBeats += n;
    },
    deleted(n) {
      openDeleted += n;
    },
    advance(at, ratePerMs) {
      // More than a window behind (cannot happen while stalls are compensated): start over.
      if (at - openStart >= (size + 1) * bucketMs) {
        beats.fill(0);
        expected.fill(0);
        deleted.fill(0);
        closed = 0;
        openStart = at - ((at - openStart) % bucketMs);
        return;
      }
      while (at - openStart >= bucketMs) close(ratePerMs);
    },
    totals() {
      let b = 0;
      let e = 0;
      let d = openDeleted;
      for (let i = 0; i < size; i++) {
        b += beats[i]!;
        e += expected[i]!;
        d += deleted[i]!;
      }
      return { beats: b, expected: e, deleted: d, full: closed >= size };
    },
  };
}
