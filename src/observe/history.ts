/**
 * Probe history per instance: a ring of the last `results` outcomes (the status page's heartbeat
 * bar, latency percentiles), hourly counts for the last 24 hours and daily counts for `days` days
 * (uptime over 24 h / 7 d / 30 d). Fed by the scheduler's probe observer; an instance's history
 * goes with its deregistration. Everything is in typed arrays of fixed size, so memory per
 * instance is bounded however long the daemon runs: ~15 bytes a kept result plus ~12 bytes a
 * bucket (24 hourly + `days` daily), ~2 KB with the defaults.
 */
import type { ProbeResult, Verdict } from '../health/contract.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HOURS = 24;
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
  /** Over the results returned; null with no results. */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number } | null;
}

/** One instance's count of probes in one hour (`kind: 'h'`) or one UTC day (`'d'`), as persisted. */
export interface BucketRow {
  readonly key: string;
  readonly kind: 'h' | 'd';
  /** Hours (or days) since the epoch. */
  readonly index: number;
  readonly probes: number;
  readonly ok: number;
}

/** A ring of counters, one slot per hour or day; a slot holding an older index is reused. */
interface Buckets {
  readonly index: Int32Array;
  readonly probes: Uint32Array;
  readonly ok: Uint32Array;
}

interface Track {
  next: number;
  count: number;
  readonly status: Uint8Array;
  readonly reason: Uint16Array;
  readonly latency: Float32Array;
  readonly at: Float64Array;
  readonly hours: Buckets;
  readonly days: Buckets;
}

export interface History {
  record(key: string, result: ProbeResult): void;
  forget(key: string): void;
  summary(key: string, now: number, last?: number): HistorySummary | undefined;
  /** Restores counts read back at start (buckets outside their window are ignored). */
  restore(rows: Iterable<BucketRow>, now: number): void;
  /** The buckets changed since the last call, to be persisted. */
  takeDirty(): BucketRow[];
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const buckets = (n: number): Buckets => ({ index: new Int32Array(n).fill(-1), probes: new Uint32Array(n), ok: new Uint32Array(n) });

/** Adds to the slot of `index` (starting it afresh if it held an older one); returns the slot. */
function add(b: Buckets, index: number, probes: number, ok: number): number {
  const slot = index % b.index.length;
  if (b.index[slot] !== index) {
    b.index[slot] = index;
    b.probes[slot] = 0;
    b.ok[slot] = 0;
  }
  b.probes[slot]! += probes;
  b.ok[slot]! += ok;
  return slot;
}

/** Fraction ok over the slots whose index is after `from`. */
function ratio(b: Buckets, from: number): number | null {
  let n = 0;
  let ok = 0;
  for (let s = 0; s < b.index.length; s++) {
    if (b.index[s]! <= from) continue;
    n += b.probes[s]!;
    ok += b.ok[s]!;
  }
  return n === 0 ? null : ok / n;
}

export function createHistory(opts: { results: number; days: number }): History {
  const tracks = new Map<string, Track>();
  const size = opts.results;
  // Reasons are a handful of stable codes: kept once, referred to by number.
  const reasons: string[] = [];
  const reasonIds = new Map<string, number>();
  const reasonId = (r: string): number => {
    let id = reasonIds.get(r);
    if (id === undefined && reasons.length < 65_535) reasonIds.set(r, (id = reasons.push(r) - 1));
    return id ?? 65_535;
  };
  const dirty = new Map<string, Set<string>>();
  const markDirty = (key: string, kind: 'h' | 'd', index: number): void => {
    let set = dirty.get(key);
    if (!set) dirty.set(key, (set = new Set()));
    set.add(`${kind}${index}`);
  };
  const trackOf = (key: string): Track => {
    let t = tracks.get(key);
    if (!t) {
      t = {
        next: 0, count: 0,
        status: new Uint8Array(size), reason: new Uint16Array(size), latency: new Float32Array(size), at: new Float64Array(size),
        hours: buckets(HOURS), days: buckets(opts.days),
      };
      tracks.set(key, t);
    }
    return t;
  };

  return {
    record(key, r) {
      const t = trackOf(key);
      const i = t.next;
      t.status[i] = VERDICTS.indexOf(r.status);
      t.reason[i] = reasonId(r.reason);
      t.latency[i] = r.latencyMs;
      t.at[i] = r.startedAt;
      t.next = (i + 1) % size;
      if (t.count < size) t.count++;
      const ok = r.status === 'ok' ? 1 : 0;
      const hour = Math.floor(r.startedAt / HOUR);
      const day = Math.floor(r.startedAt / DAY);
      add(t.hours, hour, 1, ok);
      add(t.days, day, 1, ok);
      markDirty(key, 'h', hour);
      markDirty(key, 'd', day);
    },
    forget(key) {
      tracks.delete(key);
      dirty.delete(key);
    },
    restore(rows, now) {
      const [hour, day] = [Math.floor(now / HOUR), Math.floor(now / DAY)];
      for (const r of rows) {
        if (r.kind === 'h' && r.index > hour - HOURS) add(trackOf(r.key).hours, r.index, r.probes, r.ok);
        else if (r.kind === 'd' && r.index > day - opts.days) add(trackOf(r.key).days, r.index, r.probes, r.ok);
      }
    },
    takeDirty() {
      const out: BucketRow[] = [];
      for (const [key, set] of dirty) {
        const t = tracks.get(key);
        if (!t) continue;
        for (const tag of set) {
          const kind = tag[0] as 'h' | 'd';
          const index = Number(tag.slice(1));
          const b = kind === 'h' ? t.hours : t.days;
          const slot = index % b.index.length;
          if (b.index[slot] === index) out.push({ key, kind, index, probes: b.probes[slot]!, ok: b.ok[slot]! });
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
        results.push({ status: VERDICTS[t.status[i]!]!, reason: reasons[t.reason[i]!] ?? 'other', latencyMs: Math.round(t.latency[i]! * 1000) / 1000, startedAt: t.at[i]! });
      }
      const lat = results.map((r) => r.latencyMs).sort((a, b) => a - b);
      const [hour, day] = [Math.floor(now / HOUR), Math.floor(now / DAY)];
      return {
        results,
        // 24 h: the last 24 hourly buckets. 7 d / 30 d: whole UTC days, today included.
        uptime: { '24h': ratio(t.hours, hour - HOURS), '7d': ratio(t.days, day - 7), '30d': ratio(t.days, day - Math.min(30, opts.days)) },
        latencyMs: lat.length === 0 ? null : { p50: percentile(lat, 0.5), p95: percentile(lat, 0.95), p99: percentile(lat, 0.99) },
      };
    },
  };
}
