/**
 * Owns the connections checkers reuse between probes. Entries are keyed `type|key` where `key`
 * starts with the target's `host:port`, so removing a target closes exactly its connections.
 */
import type { ResourceCache } from './contract.js';

interface Entry {
  readonly target: string;
  readonly resource: unknown;
  readonly dispose: (resource: unknown) => void | Promise<void>;
  lastUsed: number;
}

export interface ResourcePool {
  /** The cache a checker of `type` sees in its context. */
  scope(type: string): ResourceCache;
  /** Closes resources unused for `idleMs` or longer. */
  sweepIdle(idleMs: number): Promise<number>;
  /** Closes every resource of the target `host:port`. */
  releaseTarget(host: string, port: number): Promise<number>;
  closeAll(): Promise<void>;
  readonly size: number;
}

function targetOf(key: string): string {
  // `host:port…`; IPv6 hosts are written `[::1]:port` by convention.
  const match = /^(\[[^\]]*\]|[^:]*):(\d+)/.exec(key);
  return match ? `${match[1]}:${match[2]}` : key;
}

export function targetKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function createResourcePool(now: () => number = Date.now): ResourcePool {
  const entries = new Map<string, Entry>();
  // One scope per checker type, shared by every instance of the type (an object and two closures
  // per instance cost ~200 bytes each at 100,000 instances).
  const scopes = new Map<string, ResourceCache>();

  async function close(fullKey: string): Promise<void> {
    const entry = entries.get(fullKey);
    if (!entry) return;
    entries.delete(fullKey);
    try {
      await entry.dispose(entry.resource);
    } catch {
      // A resource that fails to close is gone either way.
    }
  }

  async function closeWhere(pred: (e: Entry) => boolean): Promise<number> {
    const keys = [...entries].filter(([, e]) => pred(e)).map(([k]) => k);
    await Promise.all(keys.map(close));
    return keys.length;
  }

  return {
    scope(type) {
      const known = scopes.get(type);
      if (known) return known;
      const scope: ResourceCache = {
        use<T>(key: string, create: () => T, dispose: (r: T) => void | Promise<void>): T {
          const fullKey = `${type}|${key}`;
          let entry = entries.get(fullKey);
          if (!entry) {
            entry = { target: targetOf(key), resource: create(), dispose: dispose as Entry['dispose'], lastUsed: now() };
            entries.set(fullKey, entry);
          }
          entry.lastUsed = now();
          return entry.resource as T;
        },
        async evict(key: string, resource?: unknown): Promise<void> {
          const fullKey = `${type}|${key}`;
          if (resource !== undefined && entries.get(fullKey)?.resource !== resource) return;
          await close(fullKey);
        },
      };
      scopes.set(type, scope);
      return scope;
    },
    sweepIdle(idleMs) {
      const cutoff = now() - idleMs;
      return closeWhere((e) => e.lastUsed <= cutoff);
    },
    releaseTarget(host, port) {
      const target = targetKey(host, port);
      return closeWhere((e) => e.target === target);
    },
    async closeAll() {
      await closeWhere(() => true);
    },
    get size() {
      return entries.size;
    },
  };
}
