/**
 * A token bucket in front of every request the companion sends to the Nacos server, so a registry of
 * 50,000 instances is read at a bounded rate however many services it has. `wait()` resolves when a
 * token is free; the delay is a pure function of the bucket and `now`, so tests use literal times.
 */
export interface Bucket {
  tokens: number;
  at: number;
}

export interface RateLimit {
  readonly perSecond: number;
  /** Tokens a quiet bucket holds: the largest burst. */
  readonly burst: number;
}

/** Refills `b` up to `now` and returns how long to wait for one token (0: take it now). */
export function delayFor(b: Bucket, limit: RateLimit, now: number): number {
  const elapsed = Math.max(0, now - b.at);
  b.tokens = Math.min(limit.burst, b.tokens + (elapsed * limit.perSecond) / 1000);
  b.at = now;
  if (b.tokens >= 1) return 0;
  return Math.ceil(((1 - b.tokens) * 1000) / limit.perSecond);
}

export interface RateLimiter {
  /** Resolves when one request may go; rejects with the signal's reason when aborted. */
  wait(signal?: AbortSignal): Promise<void>;
  /** Requests let through since creation. */
  readonly taken: number;
}

export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  const bucket: Bucket = { tokens: limit.burst, at: now() };
  let taken = 0;
  let chain: Promise<void> = Promise.resolve();

  async function takeOne(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const delay = delayFor(bucket, limit, now());
      if (delay === 0) {
        bucket.tokens -= 1;
        taken++;
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, delay);
        function done(): void {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  return {
    wait(signal) {
      // One queue, first come first served: a waiter never overtakes an earlier one.
      const turn = chain.then(() => takeOne(signal));
      chain = turn.catch(() => {});
      return turn;
    },
    get taken() {
      return taken;
    },
  };
}
