/**
 * Probe history per instance: a ring of the last `results` outcomes (the status page's heartbeat
 * bar, latency percentiles), hourly counts for the last 24 hours and daily counts for `days` days
 * (uptime over 24 h / 7 d / 30 d). Fed by the scheduler's probe observer; an instance's history
 * goes with its deregistration.
 *
 * All instances share two slabs (one Float64Array of results, one Uint32Array of counts) that grow
 * by doubling: a typed array per instance would cost a backing store each, which measured ~3 KB of
 * RSS an instance and made every garbage collection walk 10 array buffers an instance. Memory is
 * fixed per instance however long the daemon runs: 8 bytes a result (result-ring.ts) and 12 bytes
 * a bucket (~1.4 KB with the defaults).
 */
import type { ProbeResult, Verdict } from '../health/contract.js';
import { createResultRing } from './result-ring.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HOURS = 24;

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
  /** Pass as `before` for the page of results older than these; null when no older one is held. */
  readonly older: number | null;
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

interface Track {
  readonly slot: number;
  next: number;
  count: number;
  /** Results recorded since the instance was first tracked: the newest one's sequence number. */
  total: number;
  dirty: boolean;
}

export interface History {
  record(key: string, result: ProbeResult): void;
  forget(key: string): void;
  /**
   * The newest `last` results held (oldest first), or with `before` (a sequence number from
   * `older`) the newest `last` of those older than it; uptime over the counts either way.
   * `before` beyond the newest result + 1 is a RangeError (not a position of this history).
   */
  summary(key: string, now: number, last?: number, before?: number): HistorySummary | undefined;
  /** Restores counts read back at start (buckets outside their window are ignored). */
  restore(rows: Iterable<BucketRow>, now: number): void;
  /** The buckets changed since the last call (at `now`), to be persisted. */
  takeDirty(now?: number): BucketRow[];
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function createHistory(opts: { results: number; days: number }): History {
  const R = opts.results;
  const B = HOURS + opts.days;
  const tracks = new Map<string, Track>();
  const free: number[] = [];
  let used = 0;
  let cnt = new Uint32Array(0);
  // Reasons are a handful of stable codes: kept once, referred to by number.
  const reasons: string[] = [];
  const reasonIds = new Map<string, number>();
  const reasonId = (r: string): number => {
    let id = reasonIds.get(r);
    if (id === undefined && reasons.length < 65_535) reasonIds.set(r, (id = reasons.push(r) - 1));
    return id ?? 65_535;
  };
  const ring = createResultRing(R, reasonId, (id) => reasons[id] ?? 'other');
  let lastTaken = 0;

  function trackOf(key: string): Track {
    let t = tracks.get(key);
    if (t) return t;
    const slot = free.pop() ?? used++;
    if (slot * B * 3 >= cnt.length) {
      const c = new Uint32Array(Math.max(64, (slot + 1) * 2) * B * 3);
      c.set(cnt);
      cnt = c;
    }
    ring.reset(slot);
    cnt.fill(0, slot * B * 3, (slot + 1) * B * 3); // index 0 = empty: no probe ran in 1970
    tracks.set(key, (t = { slot, next: 0, count: 0, total: 0, dirty: false }));
    return t;
  }

  /** Offset of the bucket for `index` (hour or day) in the track's part of `cnt`. */
  const bucketAt = (t: Track, kind: 'h' | 'd', index: number): number =>
    t.slot * B * 3 + 3 * (kind === 'h' ? index % HOURS : HOURS + (index % opts.days));

  function add(t: Track, kind: 'h' | 'd', index: number, probes: number, ok: number): void {
    const at = bucketAt(t, kind, index);
    if (cnt[at] !== index) {
      cnt[at] = index;
      cnt[at + 1] = 0;
      cnt[at + 2] = 0;
    }
    cnt[at + 1]! += probes;
    cnt[at + 2]! += ok;
  }

  /** Fraction ok over the buckets of `kind` whose index is after `from`. */
  function ratio(t: Track, kind: 'h' | 'd', from: number): number | null {
    const [first, n] = kind === 'h' ? [0, HOURS] : [HOURS, opts.days];
    let probes = 0;
    let ok = 0;
    for (let s = first; s < first + n; s++) {
      const at = t.slot * B * 3 + 3 * s;
      if (cnt[at]! <= from) continue;
      probes += cnt[at + 1]!;
      ok += cnt[at + 2]!;
    }
    return probes === 0 ? null : ok / probes;
  }

  return {
    record(key, r) {
      const t = trackOf(key);
      ring.write(t.slot, t.next, { status: r.status, reason: r.reason, latencyUs: Math.min(2 ** 34, Math.round(r.latencyMs * 1000)), startedAt: r.startedAt });
      t.next = (t.next + 1) % R;
      if (t.count < R) t.count++;
      t.total++;
      const ok = r.status === 'ok' ? 1 : 0;
      add(t, 'h', Math.floor(r.startedAt / HOUR), 1, ok);
      add(t, 'd', Math.floor(r.startedAt / DAY), 1, ok);
      t.dirty = true;
    },
    forget(key) {
      const t = tracks.get(key);
      if (!t) return;
      tracks.delete(key);
      free.push(t.slot);
    },
    restore(rows, now) {
      const [hour, day] = [Math.floor(now / HOUR), Math.floor(now / DAY)];
      for (const r of rows) {
        if (r.kind === 'h' ? r.index > hour - HOURS : r.index > day - opts.days) add(trackOf(r.key), r.kind, r.index, r.probes, r.ok);
      }
    },
    takeDirty(now = Date.now()) {
      // A bucket changed since the last call is one of the current hour/day or those since then.
      const [fromHour, fromDay] = [Math.floor(lastTaken / HOUR), Math.floor(lastTaken / DAY)];
      lastTaken = now;
      const out: BucketRow[] = [];
      for (const [key, t] of tracks) {
        if (!t.dirty) continue;
        t.dirty = false;
        for (let s = 0; s < B; s++) {
          const at = t.slot * B * 3 + 3 * s;
          const kind = s < HOURS ? 'h' : 'd';
          const index = cnt[at]!;
          if (index !== 0 && index >= (kind === 'h' ? fromHour : fromDay)) out.push({ key, kind, index, probes: cnt[at + 1]!, ok: cnt[at + 2]! });
        }
      }
      return out;
    },
    summary(key, now, last = R, before) {
      const t = tracks.get(key);
      if (!t) return undefined;
      if (before !== undefined && before > t.total + 1) throw new RangeError(`no result ${before} in this history (newest is ${t.total})`);
      // Sequence numbers: the ring holds oldest…total; this page is from…to.
      const oldest = t.total - t.count + 1;
      const to = Math.min(t.total, (before ?? t.total + 1) - 1);
      const from = Math.max(oldest, to - last + 1);
      const results: HistoryEntry[] = [];
      for (let seq = from; seq <= to; seq++) {
        const k = t.total - seq + 1; // 1 = the newest
        const e = ring.read(t.slot, (t.next - k + R) % R);
        results.push({ status: e.status, reason: e.reason, latencyMs: e.latencyUs / 1000, startedAt: e.startedAt });
      }
      const lat = results.map((r) => r.latencyMs).sort((a, b) => a - b);
      const [hour, day] = [Math.floor(now / HOUR), Math.floor(now / DAY)];
      return {
        results,
        // 24 h: the last 24 hourly buckets. 7 d / 30 d: whole UTC days, today included.
        uptime: { '24h': ratio(t, 'h', hour - HOURS), '7d': ratio(t, 'd', day - 7), '30d': ratio(t, 'd', day - Math.min(30, opts.days)) },
        latencyMs: lat.length === 0 ? null : { p50: percentile(lat, 0.5), p95: percentile(lat, 0.95), p99: percentile(lat, 0.99) },
        older: from > oldest && from <= to ? from : null,
      };
    },
  };
}
