/** What the beat module reports (GET /v1/beat/status, Nacos operator/metrics). Pure view building. */
import type { BeatConfig } from './config.js';
import type { PreservationState } from './preservation.js';
import type { BeatSettings } from './switches.js';
import type { BeatTable } from './table.js';
import type { WindowTotals } from './window.js';

export interface BeatCounters {
  beats: number;
  markedUnhealthy: number;
  revived: number;
  deleted: number;
  /** Instances due for deletion but kept at the last sweep (self-preservation or expireInstance off). */
  held: number;
  /** Sum of vigil's own stalls, by which every beat deadline has been extended. */
  stalledMs: number;
  lastStall: { ms: number; at: number } | null;
  lastSweep: { at: number; durationMs: number; due: number } | null;
}

export interface BeatStatus {
  readonly ephemeralInstances: number;
  readonly unhealthy: number;
  readonly counters: Omit<BeatCounters, 'lastStall' | 'lastSweep' | 'stalledMs' | 'held'>;
  readonly settings: BeatSettings & { readonly heartbeatTimeoutMs: number; readonly deleteTimeoutMs: number; readonly sweepIntervalMs: number };
  readonly stall: { readonly totalMs: number; readonly last: { ms: number; at: number } | null };
  readonly lastSweep: { at: number; durationMs: number; due: number } | null;
  readonly selfPreservation: {
    readonly enabled: boolean;
    readonly engaged: boolean;
    readonly exhausted: boolean;
    readonly reason: string | null;
    readonly since: number | null;
    readonly held: number;
    readonly window: { readonly ms: number; readonly beats: number; readonly expected: number; readonly ratio: number | null; readonly deleted: number; readonly full: boolean };
    readonly policy: BeatConfig['selfPreservation'];
  };
  /**
   * Cluster mode only: instances this node is responsible for and replicas it keeps for listing,
   * beats it received for replicas (remembered for a takeover), instances it took over, and whether
   * a peer holds deletions (then this node holds them too).
   */
  readonly cluster?: { readonly responsibleFor: number; readonly replicas: number; readonly replicaBeats: number; readonly takenOver: number; readonly peerHolds: boolean; readonly [more: string]: unknown };
}

export interface StatusInput {
  readonly counters: BeatCounters;
  readonly table: BeatTable;
  readonly pres: PreservationState;
  readonly totals: WindowTotals;
  readonly settings: BeatSettings;
  readonly config: BeatConfig;
}

export function beatStatus(i: StatusInput): BeatStatus {
  const { counters: c, totals: t } = i;
  return {
    ephemeralInstances: i.table.size,
    unhealthy: i.table.staleCount,
    counters: { beats: c.beats, markedUnhealthy: c.markedUnhealthy, revived: c.revived, deleted: c.deleted },
    settings: { ...i.settings, heartbeatTimeoutMs: i.config.heartbeatTimeoutMs, deleteTimeoutMs: i.config.deleteTimeoutMs, sweepIntervalMs: i.config.sweepIntervalMs },
    stall: { totalMs: c.stalledMs, last: c.lastStall },
    lastSweep: c.lastSweep,
    selfPreservation: {
      enabled: i.settings.selfPreservation,
      engaged: i.pres.engaged,
      exhausted: i.pres.exhausted,
      reason: i.pres.reason,
      since: i.pres.since,
      held: c.held,
      window: {
        ms: i.config.selfPreservation.windowMs,
        beats: Math.round(t.beats),
        expected: Math.round(t.expected),
        ratio: t.expected >= 1 ? Math.round((t.beats / t.expected) * 1000) / 1000 : null,
        deleted: t.deleted,
        full: t.full,
      },
      policy: i.config.selfPreservation,
    },
  };
}
