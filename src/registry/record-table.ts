/**
 * The registry's health records and last probe results, packed into typed-array columns indexed by
 * a slot number (one slot per instance). Every probe used to replace two objects per instance (a
 * HealthState and a ProbeResult) that lived until the next probe: long enough to be promoted to the
 * old generation, so at 100,000 instances the old generation filled with ~25 MB of dead records
 * every interval and V8 grew the heap to several times the live data. Packed, a probe writes numbers
 * in place and keeps no object; reading a record builds a fresh frozen object that dies young.
 *
 * What is not a plain number or a short code keeps its object, by reference: an operator override,
 * and a probe result that carries `detail`, `facts` or any field beyond the five packed ones (so an
 * HTTP result with its status line is held as the checker's runner built it). Strings (reasons,
 * `decidedBy`, checker types) are stable codes, kept once in a table of at most 65,535; beyond it a
 * string is held per slot.
 */
import type { ProbeResult, Verdict } from '../health/contract.js';
import type { DecidedBy, HealthState, Override } from '../health/state-machine.js';

const VERDICTS: readonly Verdict[] = ['ok', 'fail', 'fail-now'];
const HEALTHY = 1;
const HAS_PROBE = 2;
/** Status of the packed probe in bits 2–3 (index into VERDICTS). */
const STATUS_SHIFT = 2;
/** A string id meaning "held per slot" (the shared table is full). */
const SPILLED = 0xffff;

export interface RecordTable {
  /** A slot for a new record; its fields are undefined until set. */
  alloc(): number;
  /** Gives `slot` back for reuse; forget every reference to it first. */
  free(slot: number): void;
  health(slot: number): HealthState;
  /** One field of the slot's health, read in place (hot paths build no HealthState). */
  healthField<K extends PlainHealthField>(slot: number, field: K): HealthState[K];
  /** Whether the slot's health holds an operator override. */
  hasOverride(slot: number): boolean;
  setHealth(slot: number, health: HealthState): void;
  lastProbe(slot: number): ProbeResult | undefined;
  setLastProbe(slot: number, probe: ProbeResult | undefined): void;
  /** Slots in use. */
  readonly size: number;
}

/** The fields of a health other than its override. */
export type PlainHealthField = Exclude<keyof HealthState, 'override'>;

/** A string column: ids into one shared table, with per-slot spill once the table is full. */
interface StringColumn {
  ids: Uint16Array;
  readonly spill: Map<number, string>;
}

export function createRecordTable(initialCapacity = 64): RecordTable {
  let cap = Math.max(1, initialCapacity);
  let used = 0;
  let size = 0;
  const freeSlots: number[] = [];
  let flags = new Uint8Array(cap);
  // Health: since, version and both streaks; probe: latency and start. Float64 keeps every integer
  // up to 2^53 and every timestamp exact.
  let nums = new Float64Array(cap * 6);
  const strings: string[] = [];
  const stringIds = new Map<string, number>();
  const column = (): StringColumn => ({ ids: new Uint16Array(cap), spill: new Map() });
  const reason = column();
  const decidedBy = column();
  const probeReason = column();
  const probeType = column();
  const overrides = new Map<number, Override>();
  /** Probe results that do not fit the packed shape, kept as given. */
  const whole = new Map<number, ProbeResult>();

  function grow(): void {
    cap *= 2;
    const f = new Uint8Array(cap);
    f.set(flags);
    flags = f;
    const n = new Float64Array(cap * 6);
    n.set(nums);
    nums = n;
    for (const c of [reason, decidedBy, probeReason, probeType]) {
      const ids = new Uint16Array(cap);
      ids.set(c.ids);
      c.ids = ids;
    }
  }

  function put(c: StringColumn, slot: number, s: string): void {
    // The steady case: the same code as last time (a healthy instance's `connected`).
    if (c.ids[slot] !== SPILLED && strings[c.ids[slot]!] === s) return;
    let id = stringIds.get(s);
    if (id === undefined && strings.length < SPILLED) stringIds.set(s, (id = strings.push(s) - 1));
    if (id === undefined) {
      c.ids[slot] = SPILLED;
      c.spill.set(slot, s);
    } else {
      c.ids[slot] = id;
      if (c.spill.size > 0) c.spill.delete(slot);
    }
  }
  const get = (c: StringColumn, slot: number): string => {
    const id = c.ids[slot]!;
    return id === SPILLED ? c.spill.get(slot)! : strings[id]!;
  };

  /** A result the packed shape holds exactly: the five fields of a plain runner result and nothing else. */
  function packable(p: ProbeResult): boolean {
    let fields = 0;
    for (const _ in p) fields++;
    return (
      fields === 5 &&
      VERDICTS.includes(p.status) &&
      typeof p.reason === 'string' &&
      typeof p.type === 'string' &&
      typeof p.latencyMs === 'number' &&
      typeof p.startedAt === 'number'
    );
  }

  return {
    alloc() {
      const slot = freeSlots.pop() ?? used++;
      if (slot >= cap) grow();
      flags[slot] = 0;
      size++;
      return slot;
    },
    free(slot) {
      overrides.delete(slot);
      whole.delete(slot);
      for (const c of [reason, decidedBy, probeReason, probeType]) c.spill.delete(slot);
      flags[slot] = 0;
      freeSlots.push(slot);
      size--;
    },
    health(slot) {
      const at = slot * 6;
      const override = overrides.get(slot);
      const h = {
        healthy: (flags[slot]! & HEALTHY) !== 0,
        since: nums[at]!,
        version: nums[at + 1]!,
        okStreak: nums[at + 2]!,
        failStreak: nums[at + 3]!,
        reason: get(reason, slot),
        decidedBy: get(decidedBy, slot) as DecidedBy,
      };
      return Object.freeze(override === undefined ? h : { ...h, override });
    },
    healthField(slot, field) {
      type F = HealthState[typeof field];
      switch (field) {
        case 'healthy':
          return ((flags[slot]! & HEALTHY) !== 0) as F;
        case 'reason':
          return get(reason, slot) as F;
        case 'decidedBy':
          return get(decidedBy, slot) as F;
        case 'since':
          return nums[slot * 6]! as F;
        case 'version':
          return nums[slot * 6 + 1]! as F;
        case 'okStreak':
          return nums[slot * 6 + 2]! as F;
        default:
          return nums[slot * 6 + 3]! as F; // failStreak
      }
    },
    hasOverride(slot) {
      return overrides.size > 0 && overrides.has(slot);
    },
    setHealth(slot, h) {
      const at = slot * 6;
      flags[slot] = h.healthy ? flags[slot]! | HEALTHY : flags[slot]! & ~HEALTHY;
      nums[at] = h.since;
      nums[at + 1] = h.version;
      nums[at + 2] = h.okStreak;
      nums[at + 3] = h.failStreak;
      put(reason, slot, h.reason);
      put(decidedBy, slot, h.decidedBy);
      if (h.override === undefined) {
        if (overrides.size > 0) overrides.delete(slot);
      }
      else overrides.set(slot, h.override);
    },
    lastProbe(slot) {
      const f = flags[slot]!;
      if ((f & HAS_PROBE) === 0) return undefined;
      const kept = whole.get(slot);
      if (kept) return kept;
      const at = slot * 6;
      return Object.freeze({
        status: VERDICTS[(f >> STATUS_SHIFT) & 3]!,
        reason: get(probeReason, slot),
        type: get(probeType, slot),
        latencyMs: nums[at + 4]!,
        startedAt: nums[at + 5]!,
      });
    },
    setLastProbe(slot, p) {
      const keep = flags[slot]! & HEALTHY;
      if (p === undefined) {
        flags[slot] = keep;
        whole.delete(slot);
        return;
      }
      if (!packable(p)) {
        flags[slot] = keep | HAS_PROBE;
        whole.set(slot, p);
        return;
      }
      if (whole.size > 0) whole.delete(slot);
      flags[slot] = keep | HAS_PROBE | (VERDICTS.indexOf(p.status) << STATUS_SHIFT);
      const at = slot * 6;
      nums[at + 4] = p.latencyMs;
      nums[at + 5] = p.startedAt;
      put(probeReason, slot, p.reason);
      put(probeType, slot, p.type);
    },
    get size() {
      return size;
    },
  };
}
