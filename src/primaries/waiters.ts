/**
 * Long-poll waiters, per service key: each resolves `true` when the service's answer may have
 * changed, `false` at its timeout, when its signal aborts or when the waiters are closed (the
 * daemon stopping), so no request outlives the server.
 */
export interface Waiters {
  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Resolves every waiter of `key` with `changed`. */
  wake(key: string, changed: boolean): void;
  /** Accept waiters (until `close`). */
  open(): void;
  /** Resolves every waiter with false; later waits resolve false at once. */
  close(): void;
}

export function createWaiters(): Waiters {
  const byKey = new Map<string, Set<(changed: boolean) => void>>();
  let accepting = false;

  const wake = (key: string, changed: boolean): void => {
    const set = byKey.get(key);
    if (!set) return;
    byKey.delete(key);
    for (const w of set) w(changed);
  };

  return {
    wait(key, timeoutMs, signal) {
      return new Promise<boolean>((resolve) => {
        if (signal?.aborted || !accepting) return resolve(false);
        let set = byKey.get(key);
        if (!set) byKey.set(key, (set = new Set()));
        const done = (changed: boolean): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          byKey.get(key)?.delete(done);
          resolve(changed);
        };
        const onAbort = (): void => done(false);
        const timer = setTimeout(done, timeoutMs, false);
        signal?.addEventListener('abort', onAbort, { once: true });
        set.add(done);
      });
    },
    wake,
    open() {
      accepting = true;
    },
    close() {
      accepting = false;
      for (const key of [...byKey.keys()]) wake(key, false);
    },
  };
}
