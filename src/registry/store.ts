/**
 * The durable store behind the registry. Writes of instances, checker configs, the whitelist and
 * switches are synchronous and committed before the caller acknowledges anything, so an
 * acknowledged write survives kill -9. Health records are the exception: they are derived from
 * probes, change in bursts (a rack going down flips thousands at once) and are written in batches
 * through `putHealthBatch`, asynchronously, off the event loop (registry/health-writer.ts). A
 * health row is written only while its instance is stored. Only persistent data lives here:
 * ephemeral instances are owned by the beat module and rebuilt from beats.
 */
import type { ProbeResult } from '../health/contract.js';
import type { HealthState } from '../health/state-machine.js';
import type { WhitelistEntry } from '../health/whitelist.js';
import type { CheckerScope, Instance } from './model.js';

export interface StoredHealth {
  readonly health: HealthState;
  readonly lastProbe?: ProbeResult;
}

export interface StoredCheckerConfig {
  readonly scope: CheckerScope;
  /** As validated when it was written; re-validated on load against the loaded checkers. */
  readonly config: unknown;
}

export interface StoreSnapshot {
  /** `epoch` and `decidedByNode`: the shared store's stamp of the health record (cluster mode). */
  readonly instances: ReadonlyArray<{ key: string; instance: Instance; health?: StoredHealth; epoch?: number; decidedByNode?: string }>;
  readonly checkerConfigs: ReadonlyArray<StoredCheckerConfig & { key: string }>;
  readonly whitelist: readonly WhitelistEntry[];
  readonly switches: Readonly<Record<string, unknown>>;
}

/** The operator's settings: what an API write sets and every node of a cluster must obey alike. */
export type Settings = Pick<StoreSnapshot, 'checkerConfigs' | 'whitelist' | 'switches'>;

export interface HealthBatchEntry {
  readonly key: string;
  readonly health: StoredHealth;
}

export interface Store {
  load(): StoreSnapshot;
  putInstance(key: string, instance: Instance, health: StoredHealth): void;
  /** Writes many health records in one transaction without blocking the caller's thread; rejects with VIGIL_ERR_STORE. */
  putHealthBatch(entries: readonly HealthBatchEntry[]): Promise<void>;
  deleteInstance(key: string): void;
  putCheckerConfig(key: string, value: StoredCheckerConfig): void;
  deleteCheckerConfig(key: string): void;
  putWhitelist(entry: WhitelistEntry): void;
  deleteWhitelist(id: string): void;
  putSwitch(name: string, value: unknown): void;
  /** Waits for health batches in flight, then closes. */
  close(): Promise<void>;
}
