/**
 * The last results of every instance in two shared slabs: a ring of `perSlot` entries per slot,
 * 8 bytes an entry (it was 16). Each entry is its start time as a whole number of ms after its
 * slot's base time (Uint32: 49 days) and one Uint32 code: verdict (2 bits), reason (6 bits: the
 * first 63 reason codes seen) and latency in µs (24 bits: up to 16.7 s). An entry that does not fit
 * (a later reason code, a slower probe, a start time off the slot's base by 49 days or a fraction of
 * a ms) is held whole in a side map instead, so every entry reads back exactly as written; the map
 * holds only such rare entries and loses each when the ring overwrites it. A start time beyond the
 * base's range moves the base to it and spills that slot's older entries, so a daemon that runs for
 * months spills at most one ring per slot every 49 days.
 */
import type { Verdict } from '../health/contract.js';

export interface RingEntry {
  readonly status: Verdict;
  readonly reason: string;
  /** Whole µs: latencyMs × 1000 rounded, at most 2^34. */
  readonly latencyUs: number;
  readonly startedAt: number;
}

export interface ResultRing {
  /** Makes room for `slot` and empties it. */
  reset(slot: number): void;
  write(slot: number, pos: number, entry: RingEntry): void;
  /** The entry at `pos`; only positions written since the slot's reset are meaningful. */
  read(slot: number, pos: number): RingEntry;
  /** Entries held whole because they did not fit (for tests and the bench). */
  readonly spilled: number;
}

const VERDICTS: readonly Verdict[] = ['ok', 'fail', 'fail-now'];
/** Code 0 in the verdict bits: the entry is in the spill map. */
const SPILLED = 0;
const REASONS = 63;
const LATENCY_LIMIT = 2 ** 24;
const OFFSET_LIMIT = 2 ** 32;

export function createResultRing(perSlot: number, reasonId: (reason: string) => number, reasonOf: (id: number) => string): ResultRing {
  const R = perSlot;
  let cap = 0;
  let times = new Uint32Array(0);
  let codes = new Uint32Array(0);
  let bases = new Float64Array(0);
  const spill = new Map<number, RingEntry>();

  function unpack(slot: number, i: number): RingEntry {
    const code = codes[i]!;
    if ((code & 3) === SPILLED) return spill.get(i)!;
    return { status: VERDICTS[(code & 3) - 1]!, reason: reasonOf((code >>> 2) & 63), latencyUs: code >>> 8, startedAt: bases[slot]! + times[i]! };
  }

  /** Moves the slot's base to `at`: its packed entries are spilled, since their offsets no longer hold. */
  function rebase(slot: number, at: number): void {
    for (let i = slot * R; i < (slot + 1) * R; i++) {
      if ((codes[i]! & 3) === SPILLED) continue;
      spill.set(i, unpack(slot, i));
      codes[i] = SPILLED;
    }
    bases[slot] = at;
  }

  return {
    reset(slot) {
      if (slot >= cap) {
        cap = Math.max(64, (slot + 1) * 2);
        const t = new Uint32Array(cap * R);
        t.set(times);
        times = t;
        const c = new Uint32Array(cap * R);
        c.set(codes);
        codes = c;
        const b = new Float64Array(cap);
        b.set(bases);
        bases = b;
      }
      times.fill(0, slot * R, (slot + 1) * R);
      codes.fill(0, slot * R, (slot + 1) * R);
      bases[slot] = NaN;
      if (spill.size > 0) for (let i = slot * R; i < (slot + 1) * R; i++) spill.delete(i);
    },
    write(slot, pos, e) {
      const i = slot * R + pos;
      if (spill.size > 0) spill.delete(i);
      if (Number.isNaN(bases[slot]!)) bases[slot] = e.startedAt;
      let offset = e.startedAt - bases[slot]!;
      if (Number.isInteger(offset) && (offset < 0 || offset >= OFFSET_LIMIT)) {
        rebase(slot, e.startedAt);
        offset = 0;
      }
      const reason = reasonId(e.reason);
      if (Number.isInteger(offset) && reason < REASONS && e.latencyUs < LATENCY_LIMIT) {
        times[i] = offset;
        codes[i] = VERDICTS.indexOf(e.status) + 1 + 4 * reason + 256 * e.latencyUs;
      } else {
        codes[i] = SPILLED;
        spill.set(i, { ...e, reason: reasonOf(reason) });
      }
    },
    read: (slot, pos) => unpack(slot, slot * R + pos),
    get spilled() {
      return spill.size;
    },
  };
}
