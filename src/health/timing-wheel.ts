/**
 * A timing wheel for the probe loop: due times are rounded up to slots of `slotMs` and one pump
 * pops every task of the slots that have come due. Compared with one setTimeout per task this
 * keeps no timer object per instance and wakes the event loop once per slot for a whole batch of
 * probes, which is where most of the per-probe overhead went at 10k+ instances.
 * Pure: `now` is passed in; the scheduler owns the real timer that calls `due()`.
 */
export interface WheelEntry {
  /** The slot the entry is filed under; -1 when not scheduled. Owned by the wheel. */
  slot: number;
}

export interface TimingWheel<T extends WheelEntry> {
  /** Files `entry` under the slot of `dueAt`, replacing any earlier filing. */
  add(entry: T, dueAt: number): void;
  /** Unfiles `entry`. */
  cancel(entry: T): void;
  /** Pops every entry whose slot ends at or before `now`, in due order. */
  due(now: number): T[];
  /** Entries scheduled. */
  readonly size: number;
}

export function createTimingWheel<T extends WheelEntry>(slotMs: number, start: number): TimingWheel<T> {
  const slots = new Map<number, T[]>();
  let cursor = Math.floor(start / slotMs); // every slot <= cursor has been popped
  let size = 0;

  return {
    add(entry, dueAt) {
      if (entry.slot !== -1) size--;
      // Never file into a slot already popped: a due time in the past runs on the next pump.
      const slot = Math.max(cursor + 1, Math.ceil(dueAt / slotMs));
      entry.slot = slot;
      size++;
      const list = slots.get(slot);
      if (list) list.push(entry);
      else slots.set(slot, [entry]);
    },
    cancel(entry) {
      if (entry.slot === -1) return;
      entry.slot = -1; // left in its list and skipped when popped
      size--;
    },
    due(now) {
      const last = Math.floor(now / slotMs);
      const out: T[] = [];
      for (let s = cursor + 1; s <= last; s++) {
        const list = slots.get(s);
        if (!list) continue;
        slots.delete(s);
        for (const e of list) {
          if (e.slot !== s) continue; // re-filed or cancelled since
          e.slot = -1;
          size--;
          out.push(e);
        }
      }
      if (last > cursor) cursor = last;
      return out;
    },
    get size() {
      return size;
    },
  };
}
