/**
 * The beat module's memory: one slot per ephemeral instance, kept lean because there may be
 * 100k of them. The key string is the registry's own (shared, not copied); the last beat lives in a
 * Float64Array (no boxed number per beat); a stale flag in a Uint8Array; per-instance timeouts only
 * for the few instances whose metadata overrides them.
 */
import type { PartialTimeouts } from './timeouts.js';

export interface BeatTable {
  readonly size: number;
  /** Adds (or re-times) an instance; returns its slot. */
  add(key: string, at: number, own: PartialTimeouts | undefined): number;
  remove(key: string): boolean;
  slotOf(key: string): number | undefined;
  /** Sets the last beat; returns whether the instance was stale (and clears the flag). */
  touch(slot: number, at: number): boolean;
  setStale(slot: number, stale: boolean): void;
  /** Moves the last beat forward to `at` (never back), leaving the stale flag alone. */
  extend(slot: number, at: number): void;
  /** Cluster mode: whether this node was responsible for the slot at the last sweep. */
  isMine(slot: number): boolean;
  setMine(slot: number, mine: boolean): void;
  setOwn(slot: number, own: PartialTimeouts | undefined): void;
  own(slot: number): PartialTimeouts | undefined;
  /** Highest slot in use + 1: iterate 0..end and skip slots whose key is undefined. */
  readonly end: number;
  keyAt(slot: number): string | undefined;
  lastAt(slot: number): number;
  isStale(slot: number): boolean;
  readonly staleCount: number;
  /** Number of instances with their own timeouts. */
  readonly ownCount: number;
}

export function createBeatTable(initialCapacity = 1024): BeatTable {
  const slots = new Map<string, number>();
  let keys: Array<string | undefined> = [];
  let last = new Float64Array(initialCapacity);
  let stale = new Uint8Array(initialCapacity);
  let mine = new Uint8Array(initialCapacity);
  const own = new Map<number, PartialTimeouts>();
  const free: number[] = [];
  let end = 0;
  let staleCount = 0;

  const grow = (): void => {
    const nextLast = new Float64Array(last.length * 2);
    nextLast.set(last);
    last = nextLast;
    const nextStale = new Uint8Array(stale.length * 2);
    nextStale.set(stale);
    stale = nextStale;
    const nextMine = new Uint8Array(mine.length * 2);
    nextMine.set(mine);
    mine = nextMine;
  };

  const table: BeatTable = {
    get size() {
      return slots.size;
    },
    add(key, at, timeouts) {
      let slot = slots.get(key);
      if (slot === undefined) {
        slot = free.pop() ?? end++;
        if (slot >= last.length) grow();
        slots.set(key, slot);
        keys[slot] = key;
        stale[slot] = 0;
        mine[slot] = 0;
      }
      last[slot] = at;
      table.setOwn(slot, timeouts);
      return slot;
    },
    remove(key) {
      const slot = slots.get(key);
      if (slot === undefined) return false;
      slots.delete(key);
      keys[slot] = undefined;
      if (stale[slot]) staleCount--;
      stale[slot] = 0;
      own.delete(slot);
      free.push(slot);
      if (slots.size === 0) {
        // Let a drained table give its memory back.
        keys = [];
        free.length = 0;
        end = 0;
      }
      return true;
    },
    slotOf: (key) => slots.get(key),
    touch(slot, at) {
      last[slot] = at;
      if (stale[slot] === 0) return false;
      stale[slot] = 0;
      staleCount--;
      return true;
    },
    setStale(slot, value) {
      const v = value ? 1 : 0;
      if (stale[slot] === v) return;
      stale[slot] = v;
      staleCount += value ? 1 : -1;
    },
    extend(slot, at) {
      if (at > last[slot]!) last[slot] = at;
    },
    isMine: (slot) => mine[slot] === 1,
    setMine(slot, value) {
      mine[slot] = value ? 1 : 0;
    },
    setOwn(slot, timeouts) {
      if (timeouts) own.set(slot, timeouts);
      else own.delete(slot);
    },
    own: (slot) => (own.size === 0 ? undefined : own.get(slot)),
    get end() {
      return end;
    },
    keyAt: (slot) => keys[slot],
    lastAt: (slot) => last[slot]!,
    isStale: (slot) => stale[slot] === 1,
    get staleCount() {
      return staleCount;
    },
    get ownCount() {
      return own.size;
    },
  };
  return table;
}
