/** A fixed-size histogram of millisecond values (scheduling lag), cheap enough for the probe loop. */
export interface Histogram {
  record(ms: number): void;
  quantile(q: number): number;
  readonly count: number;
  reset(): void;
}

export function createHistogram(maxMs = 60_000): Histogram {
  const buckets = new Uint32Array(maxMs + 1);
  let count = 0;
  return {
    record(ms) {
      buckets[Math.min(maxMs, Math.max(0, Math.round(ms)))]! += 1;
      count++;
    },
    quantile(q) {
      if (count === 0) return 0;
      const want = Math.ceil(q * count);
      let seen = 0;
      for (let i = 0; i <= maxMs; i++) {
        seen += buckets[i]!;
        if (seen >= want) return i;
      }
      return maxMs;
    },
    get count() {
      return count;
    },
    reset() {
      buckets.fill(0);
      count = 0;
    },
  };
}
