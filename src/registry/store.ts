/**
 * The durable store behind the registry. Writes are synchronous and committed before the caller
 * acknowledges anything, so an acknowledged write survives kill -9. Only persistent data lives
 * here: ephemeral instances are owned by the beat module and rebuilt from beats.
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
  readonly instances: ReadonlyArray<{ key: string; instance: Instance; health?: StoredHealth }>;
  readonly checkerConfigs: ReadonlyArray<StoredCheckerConfig & { key: string }>;
  readonly whitelist: readonly WhitelistEntry[];
  readonly switches: Readonly<Record<string, unknown>>;
}

export interface Store {
  load(): StoreSnapshot;
  putInstance(key: string, instance: Instance, health: StoredHealth): void;
  putHealth(key: string, health: StoredHealth): void;
  deleteInstance(key: string): void;
  putCheckerConfig(key: string, value: StoredCheckerConfig): void;
  deleteCheckerConfig(key: string): void;
  putWhitelist(entry: WhitelistEntry): void;
  deleteWhitelist(id: string): void;
  putSwitch(name: string, value: unknown): void;
  close(): void;
}
