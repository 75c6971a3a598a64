/**
 * Writes the health vigil decided back to the Nacos server (`PUT health/instance`), only when it
 * differs from what the server shows. Pending work is a set of instance keys, not of values: the
 * value sent is read from the registry when the request goes out, so however many flips happen
 * while the server is down or paused, one write per instance carries the latest state. An outage
 * freezes writing until a poll succeeds again (which also refreshes the server's view), so nothing
 * is sent on a stale view. Health is written only after a probe of this process decided it (or an
 * operator override did): never the state an instance merely started with. With peers only the
 * instances this node owns are written, and only after it saw them as its own in a poll.
 */
import type { Logger } from 'pino';
import { isOverrideActive } from '../health/state-machine.js';
import { scopeKey, type InstanceId } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import type { Conditions } from './conditions.js';
import { NacosCallError } from './http.js';
import type { NacosClient } from './nacos-client.js';

/** Writes in flight at once (each still passes the client's rate limit). */
const WRITERS = 4;

/** `since` of an instance another node owns: no probe of this node counts for it. */
const NOT_MINE = Number.POSITIVE_INFINITY;

export interface Tracked {
  readonly id: InstanceId;
  /** Health the server showed at the last poll, or that the last accepted write set. */
  server: boolean;
  /** When this process first saw the instance as its own: probes before it do not count. */
  since: number;
  /** When the last accepted write was sent: a poll that began before it shows an older view. */
  wroteAt: number;
}

export interface WriteStats {
  readonly sent: number;
  readonly refused: number;
  readonly failed: number;
  readonly pending: number;
  readonly frozen: boolean;
}

export interface WriteBack {
  /**
   * Records the server's view of one instance as read by a poll that began at `observedAt`; an
   * unreliable view (protect threshold reached) only seeds an instance seen for the first time.
   * `mine` false: another node owns it (peers); nothing is written for it until it is mine again.
   */
  track(key: string, id: InstanceId, serverHealthy: boolean, observedAt: number, reliable: boolean, mine?: boolean): void;
  forget(key: string): void;
  /** Queues every tracked instance whose decided health differs from the server's view. */
  reconcile(): void;
  freeze(): void;
  /** Unfreezes (after a successful poll) and sends what is pending. */
  thaw(): void;
  /** Lets writes to a cluster that refused them be tried again (its checker changed). */
  clearRefusal(scope: string): void;
  /** Resolves when no write is in flight. */
  idle(): Promise<void>;
  stats(): WriteStats;
  stop(): void;
}

export interface WriteBackDeps {
  readonly client: NacosClient;
  readonly registry: Registry;
  readonly conditions: Conditions;
  readonly logger: Logger;
  readonly now: () => number;
  readonly refusalRetryMs: number;
  /** Called with a failure that means the server is unavailable (the caller freezes and reports). */
  readonly onOutage: (err: NacosCallError) => void;
  /** With peers: does this node own the instance now? Checked again as each write goes out. */
  readonly owns?: (key: string) => boolean;
}

export function createWriteBack(deps: WriteBackDeps): WriteBack {
  const { registry, conditions } = deps;
  const tracked = new Map<string, Tracked>();
  const pending = new Set<string>();
  const inflight = new Set<string>();
  const refusedAt = new Map<string, number>();
  let frozen = false;
  let stopped = false;
  let running: Promise<void> | undefined;
  let sent = 0;
  let refused = 0;
  let failed = 0;

  /** The health to write for `key`, or undefined when nothing should be written. */
  function wanted(key: string): boolean | undefined {
    const t = tracked.get(key);
    const rec = registry.peek(key);
    if (!t || !rec || t.since === NOT_MINE || (deps.owns && !deps.owns(key))) return undefined;
    const at = deps.now();
    const decided = (rec.lastProbe !== undefined && rec.lastProbe.startedAt >= t.since) || isOverrideActive(rec.health, at);
    if (!decided || rec.health.healthy === t.server) return undefined;
    const scope = scopeKey(t.id);
    const r = refusedAt.get(scope);
    if (r !== undefined && at - r < deps.refusalRetryMs) return undefined;
    return rec.health.healthy;
  }

  /** The next pending key that has no write in flight (one write per instance at a time keeps order). */
  function take(): string | undefined {
    for (const key of pending) {
      if (inflight.has(key)) continue;
      pending.delete(key);
      return key;
    }
    return undefined;
  }

  /** Sends one write; false when the server is unavailable (writing is frozen then). */
  async function writeOne(key: string): Promise<boolean> {
    const healthy = wanted(key);
    const t = tracked.get(key);
    if (healthy === undefined || !t) return true;
    const startedAt = deps.now();
    const scope = scopeKey(t.id);
    try {
      await deps.client.setHealth(t.id, healthy);
      t.server = healthy;
      t.wroteAt = startedAt;
      sent++;
      if (refusedAt.delete(scope)) conditions.clear('refused', scope);
      return true;
    } catch (err) {
      if (!(err instanceof NacosCallError)) throw err;
      if (err.kind === 'client-error' && err.status === 404) {
        // Deregistered since the last poll: the next poll drops it from the working copy.
        deps.logger.debug({ instance: key }, 'nacos companion: instance gone before its health was written');
        return true;
      }
      if (err.kind === 'client-error' || err.kind === 'malformed') {
        // Nacos refuses external health for clusters whose checker is not NONE: say so once per cluster.
        refused++;
        refusedAt.set(scope, deps.now());
        conditions.raise('refused', scope, `the server refused health for cluster ${scope} (${err.message}); set its health checker to NONE (vigil nacos adopt)`);
        return true;
      }
      failed++;
      pending.add(key);
      frozen = true;
      deps.onOutage(err);
      return false;
    }
  }

  async function worker(): Promise<void> {
    while (!frozen && !stopped) {
      const key = take();
      if (key === undefined) return;
      inflight.add(key);
      try {
        if (!(await writeOne(key))) return;
      } finally {
        inflight.delete(key);
      }
    }
  }

  /** A few writes in flight at once: after a mass failure the server should learn it in seconds, not minutes. */
  async function drain(): Promise<void> {
    await Promise.all(Array.from({ length: WRITERS }, worker));
  }

  function kick(): void {
    if (running || frozen || stopped || pending.size === 0) return;
    running = drain()
      .catch((err: unknown) => deps.logger.error({ err }, 'nacos companion: write-back failed'))
      .finally(() => {
        running = undefined;
        if (pending.size > 0 && !frozen && !stopped) kick();
      });
  }

  const unsubscribe = registry.subscribe((e) => {
    if (e.type === 'health-changed' && tracked.has(e.key)) {
      pending.add(e.key);
      kick();
    }
  });

  return {
    track(key, id, serverHealthy, observedAt, reliable, mine = true) {
      const t = tracked.get(key);
      if (!t) tracked.set(key, { id, server: serverHealthy, since: mine ? deps.now() : NOT_MINE, wroteAt: 0 });
      else if (!mine) t.since = NOT_MINE;
      else if (t.since === NOT_MINE) {
        // Taken over: start from the server's view, as for an instance seen for the first time.
        t.since = deps.now();
        t.server = serverHealthy;
      } else if (reliable && observedAt > t.wroteAt) t.server = serverHealthy;
    },
    forget(key) {
      tracked.delete(key);
      pending.delete(key);
    },
    reconcile() {
      for (const key of tracked.keys()) if (wanted(key) !== undefined) pending.add(key);
      kick();
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      kick();
    },
    clearRefusal(scope) {
      if (refusedAt.delete(scope)) conditions.clear('refused', scope);
    },
    idle: async () => {
      while (running) await running;
    },
    stats: () => ({ sent, refused, failed, pending: pending.size, frozen }),
    stop() {
      stopped = true;
      unsubscribe();
    },
  };
}
