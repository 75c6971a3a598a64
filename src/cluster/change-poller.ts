/**
 * The repair path that makes broadcasts an optimisation: every ~1 s a node reads from the store
 * every row changed in a trailing window and applies what is newer than what it holds. A broadcast
 * that was lost, or a node that crashed between its database write and its broadcast, is healed
 * within one poll period.
 *
 * Why a window and not "since the last poll": `updated_at` is the database time when a statement
 * ran, not when its transaction committed, so a row can become visible carrying a time slightly
 * before the previous poll's `now`. Re-reading a window that is longer than any statement can take
 * (well above the store's query timeout) catches those; applying is idempotent, so the overlap only
 * costs a few rows read twice.
 *
 * What is "newer": health by its stamp (stamp.ts: epoch, then version), instances by the database
 * time of their last change (one clock for every node, and a registration has no other order).
 *
 * Settings (checker configs, whitelist, switches) ride on the same poll without a window: the store
 * keeps one settings version that every settings write bumps, each poll reads it with its clock,
 * and when it moved the node re-reads all settings and applies the difference. They are few and
 * rarely written, and a full read also carries deletions, which a time window would not.
 */
import type { Changes, HealthRow, VersionedSettings } from '../registry/mysql-store.js';
import type { Instance } from '../registry/model.js';
import type { Settings } from '../registry/store.js';
import { isNewer, type Stamp } from './stamp.js';

export interface ChangeSink {
  /** The stamp of the health record held for `key`, if any. */
  stampOf(key: string): Stamp | undefined;
  applyHealth(row: HealthRow): void;
  /** `instance` null: deregistered. */
  applyInstance(key: string, instance: Instance | null): void;
  /** The persistent instances the node holds (for reconcile to find what the store no longer has). */
  instanceKeys(): Iterable<string>;
  /** Replaces the settings held with these; returns how many entries changed. */
  applySettings(settings: Settings): number;
}

export interface ChangePollerOptions {
  readonly source: {
    changesSince(dbTime: number, held?: (key: string, stamp: Stamp) => boolean): Promise<Changes>;
    /** Which of `keys` are registered (not deleted) now: reconcile asks before it removes anything. */
    liveInstances(keys: readonly string[]): Promise<Set<string>>;
    settings(): Promise<VersionedSettings>;
    /** Whether settings read at `version` hold every settings write this node made (mysql-store.ts). */
    settingsCover(version: number): boolean;
  };
  readonly sink: ChangeSink;
  readonly windowMs: number;
  /** Database time from which to start (the `now` of the load the node started from). */
  readonly since: number;
}

export interface PollResult {
  readonly instances: number;
  readonly health: number;
  /** Settings entries (checker configs, whitelist entries, switches) that changed. */
  readonly settings: number;
}

export interface ChangePoller {
  poll(): Promise<PollResult>;
  /**
   * The periodic full repair: reads every row, applies what is newer, and deregisters what the node
   * holds but the store does not (a tombstone purged before this node polled it, a node that was
   * paused for longer than the window).
   */
  reconcile(): Promise<PollResult & { removed: number }>;
  /** Records what the node already has, e.g. after a full load (reconcile), so it is not applied again. */
  seen(key: string, updatedAt: number): void;
}

/** The health rows to apply: newer than held, and the newest per key within the batch. */
export function newerHealth(rows: readonly HealthRow[], stampOf: (key: string) => Stamp | undefined): HealthRow[] {
  const best = new Map<string, HealthRow>();
  for (const row of rows) {
    const stamp = { epoch: row.epoch, version: row.health.health.version };
    const prev = best.get(row.key);
    const held = prev ? { epoch: prev.epoch, version: prev.health.health.version } : stampOf(row.key);
    if (isNewer(stamp, held)) best.set(row.key, row);
  }
  return [...best.values()];
}

export function createChangePoller(opts: ChangePollerOptions): ChangePoller {
  let since = opts.since;
  const held = (key: string, stamp: Stamp): boolean => !isNewer(stamp, opts.sink.stampOf(key));
  const instanceTimes = new Map<string, number>();
  /** The settings version last applied; -1 so the first poll reads them (they may have moved since the load). */
  let settingsVersion = -1;

  /**
   * Reads and applies the settings unless the read is older than a settings write of this node
   * (then the version stays, and the next poll reads again).
   */
  async function syncSettings(): Promise<number> {
    const read = await opts.source.settings();
    if (!opts.source.settingsCover(read.version)) return 0;
    settingsVersion = read.version;
    return opts.sink.applySettings(read);
  }

  function apply(changes: Changes): Omit<PollResult, 'settings'> {
    let instances = 0;
    for (const row of changes.instances) {
      if ((instanceTimes.get(row.key) ?? -1) >= row.updatedAt) continue;
      instanceTimes.set(row.key, row.updatedAt);
      opts.sink.applyInstance(row.key, row.instance);
      instances++;
    }
    const health = newerHealth(changes.health, (k) => opts.sink.stampOf(k));
    for (const row of health) opts.sink.applyHealth(row);
    return { instances, health: health.length };
  }

  return {
    seen(key, updatedAt) {
      if ((instanceTimes.get(key) ?? -1) < updatedAt) instanceTimes.set(key, updatedAt);
    },
    async poll() {
      const changes = await opts.source.changesSince(since - opts.windowMs, held);
      const result = apply(changes);
      since = changes.now;
      const settings = changes.settingsVersion === settingsVersion ? 0 : await syncSettings();
      return { ...result, settings };
    },
    async reconcile() {
      const changes = await opts.source.changesSince(0);
      const result = { ...apply(changes), settings: await syncSettings() };
      const present = new Set(changes.instances.filter((r) => r.instance !== null).map((r) => r.key));
      // An instance registered through this node while the full read ran is in memory (it was
      // committed first) but not in the read: ask again for exactly the missing keys, so only
      // instances the store no longer has are removed.
      const missing = [...opts.sink.instanceKeys()].filter((key) => !present.has(key));
      const still = missing.length > 0 ? await opts.source.liveInstances(missing) : new Set<string>();
      let removed = 0;
      for (const key of missing) {
        if (still.has(key)) continue;
        opts.sink.applyInstance(key, null);
        removed++;
      }
      return { ...result, removed };
    },
  };
}
