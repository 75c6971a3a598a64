/**
 * Probe history per instance: a ring of the last `results` outcomes (the status page's heartbeat
 * bar, latency percentiles) and hourly aggregates for `days` (uptime over 24 h / 7 d / 30 d). Kept
 * in memory and fed by the scheduler's probe observer; an instance's history goes with its
 * deregistration. Cost: ~13 bytes a result plus ~40 bytes an hour per probed instance.
 */
import type { ProbeResult, Verdict } from '../health/contract.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const VERDICTS: readonly Verdict[] = ['ok', 'fail', 'fail-now'];

export interface HistoryEntry {
  readonly status: Verdict;
  readonly reason: string;
  readonly latencyMs: number;
  readonly startedAt: number;
}

export interface HistorySummary {
  readonly results: HistoryEntry[];
  /** Fraction of ok probes (0–1), or null when no probe fell in the window. */
  readonly uptime: { readonly '24h': number | null; readonly '7d': number | null; readonly '30d': number | null };
  /** Over the results in the ring; null with no results. */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number } | null;
}

interface Track {
  next: number;
  count: number;
  readonly status: Uint8Array;
  readonly latency: Float32Array;
  readonly at: Float64Array;
  readonly reason: string[];
  /** hour index → [probes, ok]. */
  readonly hours: Map<number, [number, number]>;
}

/** One instance's probes in one hour, as persisted (history-store.ts). */
export interface HourRow {
  readonly key: string;
  readonly hour: number;
  readonly probes: number;
  readonly ok: number;
}

export interface History {
  record(key: string, result: ProbeResult): void;
  forget(key: string): void;
  summary(key: string, now: number, last?: number): HistorySummary | undefined;
  /** Restores hourly aggregates read back at start (hours older than `days` are ignored). */
  restore(rows: Iterable<HourRow>, now: number): void;
  /** The hours changed since the last call, to be persisted. */
  takeDirty(): HourRow[];
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function createHistory(opts: { results: number; days: number }): History {
  const tracks = new Map<string, Track>();
  const size = opts.results;
  const dirty = new Map<string, Set<number>>();
  const markDirty = (key: string, hour: number): void => {
    let set = dirty.get(key);
    if (!set) dirty.set(key, (set = new Set()));
    set.add(hour);
  };
  const trackOf = (key: string): Track => {
    let t = tracks.get(key);
    if (!t) {
      t = { next: 0, count: 0, status: new Uint8Array(size), latency: new Float32Array(size), at: new Float64Array(size), reason: new Array<string>(size), hours: new Map() };
      tracks.set(key, t);
    }
    return t;
  };

  const uptime = (t: Track, now: number, ms: number): number | null => {
    const from = Math.floor((now - ms) / HOUR);
    let n = 0;
    let ok = 0;
    for (const [h, [p, o]] of t.hours) {
      if (h < from) continue;
      n += p;
      ok += o;
    }
    return n === 0 ? null : ok / n;
  };

  return {
    record(key, r) {
      const t = trackOf(key);
      const i = t.next;
      t.status[i] = VERDICTS.indexOf(r.status);
      t.latency[i] = r.latencyMs;
      t.at[i] = r.startedAt;
      t.reason[i] = r.reason;
      t.next = (i + 1) % size;
      if (t.count < size) t.count++;
      const hour = Math.floor(r.startedAt / HOUR);
      markDirty(key, hour);
      const agg = t.hours.get(hour);
      if (agg) {
        agg[0]++;
        if (r.status === 'ok') agg[1]++;
      } else {
        t.hours.set(hour, [1, r.status === 'ok' ? 1 : 0]);
        // A new hour started: forget the ones that left the window.
        const oldest = hour - opts.days * 24;
        for (const h of t.hours.keys()) if (h <= oldest) t.hours.delete(h);
      }
    },
    forget(key) {
      tracks.delete(key);
      dirty.delete(key);
    },
    restore(rows, now) {
      const oldest = Math.floor(now / HOUR) - opts.days * 24;
      for (const r of rows) if (r.hour > oldest) trackOf(r.key).hours.set(r.hour, [r.probes, r.ok]);
    },
    takeDirty() {
      const out: HourRow[] = [];
      for (const [key, hours] of dirty) {
        const t = tracks.get(key);
        for (const hour of hours) {
          const agg = t?.hours.get(hour);
          if (agg) out.push({ key, hour, probes: agg[0], ok: agg[1] });
        }
      }
      dirty.clear();
      return out;
    },
    summary(key, now, last = size) {
      const t = tracks.get(key);
      if (!t) return undefined;
      const n = Math.min(last, t.count);
      const results: HistoryEntry[] = [];
      for (let k = n; k >= 1; k--) {
        const i = (t.next - k + size) % size;
        results.push({ status: VERDICTS[t.status[i]!]!, reason: t.reason[i]!, latencyMs: Math.round(t.latency[i]! * 1000) / 1000, startedAt: t.at[i]! });
      }
      const lat = results.map((r) => r.latencyMs).sort((a, b) => a - b);
      return {
        results,
        uptime: { '24h': uptime(t, now, DAY), '7d': uptime(t, now, 7 * DAY), '30d': uptime(t, now, 30 * DAY) },
        latencyMs: lat.length === 0 ? null : { p50: percentile(lat, 0.5), p95: percentile(lat, 0.95), p99: percentile(lat, 0.99) },
      };
    },
  };
}
