/**
 * The scheduler's concurrency caps: a global cap on probes running at once and optional per-type
 * caps ("lanes"), each with a FIFO queue in front. A probe takes its lane's slot first and then a
 * global one, so a type waiting for its own cap never holds a global slot. Plain counters and
 * arrays: p-limit made several promises and closures per probe for the same bookkeeping.
 * Whether a due probe is shed when a queue is full is the caller's decision (`full`).
 */

/** Jobs waiting in arrival order: a job, its argument and a number, in three parallel arrays (no object per job). */
class Fifo<A, B> {
  #jobs: (A | undefined)[] = [];
  #args: (B | undefined)[] = [];
  #ats: number[] = [];
  #head = 0;

  get length(): number {
    return this.#jobs.length - this.#head;
  }

  push(job: A, arg: B, at: number): void {
    this.#jobs.push(job);
    this.#args.push(arg);
    this.#ats.push(at);
  }

  /** Takes the oldest job out and hands it to `to`. Call only when `length > 0`. */
  shift(to: (job: A, arg: B, at: number) => void): void {
    const i = this.#head++;
    const job = this.#jobs[i]!;
    const arg = this.#args[i]!;
    const at = this.#ats[i]!;
    this.#jobs[i] = undefined;
    this.#args[i] = undefined;
    if (this.#head === this.#jobs.length) {
      this.#jobs = [];
      this.#args = [];
      this.#ats = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#jobs.length) {
      this.#jobs = this.#jobs.slice(this.#head);
      this.#args = this.#args.slice(this.#head);
      this.#ats = this.#ats.slice(this.#head);
      this.#head = 0;
    }
    to(job, arg, at);
  }
}

/** A per-type cap and the probes waiting for it. */
export interface Lane {
  readonly cap: number;
  /** Probes holding a slot of this lane (running, or waiting for a global slot). */
  readonly active: number;
  /** Probes waiting for a slot of this lane. */
  readonly queued: number;
}

export interface ProbeGate<A, B> {
  /** A new lane with its own cap. */
  lane(cap: number): Lane;
  /** True when a probe of `lane` would wait in a queue that already holds `max` probes. */
  full(lane: Lane | undefined, max: number): boolean;
  /** Starts `start(job, arg, at)` now, or once its lane and then the global cap let it. */
  enter(job: A, arg: B, at: number): void;
  /** Gives back the slots of a started job (its lane's and the global one) and starts who waited. */
  leave(arg: B): void;
  /** Probes waiting for a global slot. */
  readonly queued: number;
  /** Probes holding a global slot. */
  readonly active: number;
}

class LaneState<A, B> implements Lane {
  readonly cap: number;
  active = 0;
  readonly waiting = new Fifo<A, B>();
  constructor(cap: number) {
    this.cap = cap;
  }
  get queued(): number {
    return this.waiting.length;
  }
}

/** `laneOf(arg)` names the lane of a job (undefined: the global cap only); `start` runs it. */
export function createProbeGate<A, B>(cap: number, laneOf: (arg: B) => Lane | undefined, start: (job: A, arg: B, at: number) => void): ProbeGate<A, B> {
  const waiting = new Fifo<A, B>();
  let active = 0;

  function enterGlobal(job: A, arg: B, at: number): void {
    if (active < cap) {
      active++;
      start(job, arg, at);
    } else waiting.push(job, arg, at);
  }

  return {
    lane: (laneCap) => new LaneState<A, B>(laneCap),
    full(lane, max) {
      return waiting.length >= max || (lane !== undefined && lane.queued >= max);
    },
    enter(job, arg, at) {
      const lane = laneOf(arg) as LaneState<A, B> | undefined;
      if (lane === undefined) return enterGlobal(job, arg, at);
      if (lane.active < lane.cap) {
        lane.active++;
        enterGlobal(job, arg, at);
      } else lane.waiting.push(job, arg, at);
    },
    leave(arg) {
      active--;
      if (waiting.length > 0) {
        active++;
        waiting.shift(start);
      }
      const lane = laneOf(arg) as LaneState<A, B> | undefined;
      if (lane === undefined) return;
      lane.active--;
      if (lane.waiting.length > 0) {
        lane.active++;
        lane.waiting.shift(enterGlobal);
      }
    },
    get queued() {
      return waiting.length;
    },
    get active() {
      return active;
    },
  };
}
