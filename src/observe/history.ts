/**
 * Probe history per instance: a ring of the last `results` outcomes (the status page's heartbeat
 * bar, latency percentiles), hourly counts for the last 24 hours and daily counts for `days` days
 * (uptime over 24 h / 7 d / 30 d). Fed by the scheduler's probe observer; an instance's history
 * goes with its deregistration.
 *
 * All instances share two slabs (one Float64Array of results, one Uint32Array of counts) that grow
 * by doubling: a typed array per instance would cost a backing store each, which measured ~3 KB of
 * RSS an instance and made every garbage collection walk 10 array buffers an instance. Memory is
 * fixed per instance however long the daemon runs: 8 bytes a result (result-ring.ts) and 8 bytes
 * a bucket, plus 48 bytes of ring and bucket positions (~1.28 KB with the defaults).
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

/**
 * An instance's place in the slabs: its slot. What it knows of its ring and buckets is kept per slot
 * in `meta` (an object per instance cost ~100 bytes with its fields and map entry).
 */
type Track = number;
/** `meta` fields per slot: ring position, results held, results ever (the newest one's sequence
 * number), dirty since the last takeDirty (0/1), newest hour and UTC day counted (0 = none). */
const [NEXT, COUNT, TOTAL, DIRTY, NEWEST_HOUR, NEWEST_DAY, META] = [0, 1, 2, 3, 4, 5, 6] as const;

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
  /**
   * The buckets changed since the last pass began (at `now`), to be persisted. With `limit`, the
   * pass stops after that many instances and the next call goes on from there (`passOpen` until
   * it has seen every instance), so a daemon can persist 100k instances in slices instead of one
   * long stall; a new pass begins at the call after the last one ended.
   */
  takeDirty(now?: number, limit?: number): BucketRow[];
  /** True while a pass begun by `takeDirty(now, limit)` has instances left. */
  readonly passOpen: boolean;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function createHistory(opts: { results: number; days: number }): History {
  const R = opts.results;
  const B = HOURS + opts.days;
  const tracks = new Map<string, Track>();
  const m = (t: Track, field: number): number => meta[t * META + field]!;
  const free: number[] = [];
  let used = 0;
  let cnt = new Uint32Array(0);
  let meta = new Float64Array(0);
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
  /**
   * The takeDirty pass under way: the instances in key order and where it goes on from. Key order,
   * because the store's table is keyed by instance: slices in insertion order each rewrote pages all
   * over the table (200k rows at 100k instances took 200 slices of ~19 ms instead of one 0.6–1.2 s
   * batch, bench/history-flush.ts); in key order consecutive slices touch neighbouring pages.
   * An instance added during a pass is taken by the next one; one forgotten is skipped.
   */
  let pass: { readonly fromHour: number; readonly fromDay: number; readonly keys: readonly string[]; at: number } | undefined;
  /** The keys of `tracks` sorted, kept until an instance is added or forgotten (sorting 100k keys costs ~0.1 s). */
  let sortedKeys: string[] | undefined;

  function trackOf(key: string): Track {
    const t = tracks.get(key);
    if (t !== undefined) return t;
    const slot = free.pop() ?? used++;
    if (slot * B * 2 >= cnt.length) {
      const cap = Math.max(64, (slot + 1) * 2);
      const c = new Uint32Array(cap * B * 2);
      c.set(cnt);
      cnt = c;
      const m = new Float64Array(cap * META);
      m.set(meta);
      meta = m;
    }
    ring.reset(slot);
    cnt.fill(0, slot * B * 2, (slot + 1) * B * 2);
    meta.fill(0, slot * META, (slot + 1) * META);
    tracks.set(key, slot);
    sortedKeys = undefined;
    return slot;
  }

  /**
   * The buckets of one kind are a ring of probes/ok pairs, one per hour (day) up to the newest:
   * the bucket of `index` sits at `index mod span`, and moving the newest on empties the buckets
   * it passes, so a bucket never needs its index stored beside it.
   */
  const span = (kind: 'h' | 'd'): number => (kind === 'h' ? HOURS : opts.days);
  const bucketAt = (t: Track, kind: 'h' | 'd', index: number): number => t * B * 2 + 2 * (kind === 'h' ? index % HOURS : HOURS + (index % opts.days));
  const newest = (t: Track, kind: 'h' | 'd'): number => m(t, kind === 'h' ? NEWEST_HOUR : NEWEST_DAY);

  function add(t: Track, kind: 'h' | 'd', index: number, probes: number, ok: number): void {
    const n = span(kind);
    const cur = newest(t, kind);
    if (index <= cur - n) return; // older than every bucket held
    if (index > cur) {
      for (let i = Math.max(cur + 1, index - n + 1); i <= index; i++) {
        const at = bucketAt(t, kind, i);
        cnt[at] = 0;
        cnt[at + 1] = 0;
      }
      meta[t * META + (kind === 'h' ? NEWEST_HOUR : NEWEST_DAY)] = index;
    }
    const at = bucketAt(t, kind, index);
    cnt[at]! += probes;
    cnt[at + 1]! += ok;
  }

  /** Calls `f` with each held bucket of `kind` that counted a probe: its index, probes and ok. */
  function eachBucket(t: Track, kind: 'h' | 'd', f: (index: number, probes: number, ok: number) => void): void {
    const cur = newest(t, kind);
    for (let index = cur; index > cur - span(kind) && index > 0; index--) {
      const at = bucketAt(t, kind, index);
      if (cnt[at]! > 0) f(index, cnt[at]!, cnt[at + 1]!);
    }
  }

  /** Fraction ok over the buckets of `kind` whose index is after `from`. */
  function ratio(t: Track, kind: 'h' | 'd', from: number): number | null {
    let probes = 0;
    let ok = 0;
    eachBucket(t, kind, (index, p, o) => {
      if (index <= from) return;
      probes += p;
      ok += o;
    });
    return probes === 0 ? null : ok / probes;
  }

  return {
    record(key, r) {
      const t = trackOf(key);
      const at = t * META;
      ring.write(t, meta[at + NEXT]!, { status: r.status, reason: r.reason, latencyUs: Math.min(2 ** 34, Math.round(r.latencyMs * 1000)), startedAt: r.startedAt });
      meta[at + NEXT] = (meta[at + NEXT]! + 1) % R;
      if (meta[at + COUNT]! < R) meta[at + COUNT]!++;
      meta[at + TOTAL]!++;
      const ok = r.status === 'ok' ? 1 : 0;
      add(t, 'h', Math.floor(r.startedAt / HOUR), 1, ok);
      add(t, 'd', Math.floor(r.startedAt / DAY), 1, ok);
      meta[at + DIRTY] = 1;
    },
    forget(key) {
      const t = tracks.get(key);
      if (t === undefined) return;
      tracks.delete(key);
      sortedKeys = undefined;
      free.push(t);
    },
    restore(rows, now) {
      const [hour, day] = [Math.floor(now / HOUR), Math.floor(now / DAY)];
      for (const r of rows) {
        if (r.kind === 'h' ? r.index > hour - HOURS : r.index > day - opts.days) add(trackOf(r.key), r.kind, r.index, r.probes, r.ok);
      }
    },
    takeDirty(now = Date.now(), limit = Infinity) {
      if (pass === undefined) {
        // A bucket changed since the last pass began is one of the current hour/day or those since then.
        sortedKeys ??= [...tracks.keys()].sort();
        pass = { fromHour: Math.floor(lastTaken / HOUR), fromDay: Math.floor(lastTaken / DAY), keys: sortedKeys, at: 0 };
        lastTaken = now;
      }
      const p = pass;
      const out: BucketRow[] = [];
      const end = Math.min(p.keys.length, p.at + limit);
      for (; p.at < end; p.at++) {
        const key = p.keys[p.at]!;
        const t = tracks.get(key);
        if (t === undefined || m(t, DIRTY) === 0) continue;
        meta[t * META + DIRTY] = 0;
        eachBucket(t, 'h', (index, probes, ok) => {
          if (index >= p.fromHour) out.push({ key, kind: 'h', index, probes, ok });
        });
        eachBucket(t, 'd', (index, probes, ok) => {
          if (index >= p.fromDay) out.push({ key, kind: 'd', index, probes, ok });
        });
      }
      if (p.at >= p.keys.length) pass = undefined;
      return out;
    },
    get passOpen() {
      return pass !== undefined;
    },
    summary(key, now, last = R, before) {
      const t = tracks.get(key);
      if (t === undefined) return undefined;
      const total = m(t, TOTAL);
      if (before !== undefined && before > total + 1) throw new RangeError(`no result ${before} in this history (newest is ${total})`);
      // Sequence numbers: the ring holds oldest…total; this page is from…to.
      const oldest = total - m(t, COUNT) + 1;
      const to = Math.min(total, (before ?? total + 1) - 1);
      const from = Math.max(oldest, to - last + 1);
      const results: HistoryEntry[] = [];
      for (let seq = from; seq <= to; seq++) {
        const k = total - seq + 1; // 1 = the newest
        const e = ring.read(t, (m(t, NEXT) - k + R) % R);
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
