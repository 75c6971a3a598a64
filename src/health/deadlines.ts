/**
 * The deadlines of every probe in flight, kept by one timer instead of a setTimeout per probe.
 * Probes with the same budget end in the order they started, so each budget has a FIFO queue
 * whose head is its earliest deadline; the one timer is armed for the earliest head. A probe that
 * answers early is not unfiled (that would cost a search): it is marked closed and skipped when
 * its turn comes. When nothing is open the timer is cleared and the queues dropped, so an idle
 * runner holds no timer.
 * Unlike the scheduler's timing wheel this is exact to the millisecond: a probe is answered at its
 * deadline, not at the end of a slot after it.
 */

export interface DeadlineEntry {
  /** Clock value at which the entry expires. */
  readonly deadline: number;
  /** False once the entry is answered; a closed entry never expires. */
  readonly open: boolean;
}

export interface Deadlines<T extends DeadlineEntry> {
  /** Files an open entry whose deadline is `clock() + budgetMs` (entries of one budget in start order). */
  add(entry: T, budgetMs: number): void;
  /** Tells the queues that one entry closed (answered); the last one clears the timer. */
  closed(): void;
  /** The open entries, oldest first per budget (a copy: `fn` may close them). */
  open(): T[];
  /** Open entries. */
  readonly size: number;
}

/** A queue of one budget: `items[head..]` are filed, in deadline order. */
interface Queue<T> {
  items: (T | undefined)[];
  head: number;
}

/** Below this a timer would fire before the entry's deadline on libuv's millisecond clock. */
const RESOLUTION_MS = 1;

/**
 * `expire` is called once for each entry whose deadline passes while it is open; it must close
 * the entry (and call `closed()`). `clock` must be the clock the timers run on (a monotonic
 * millisecond clock; a test's fake one).
 */
export function createDeadlines<T extends DeadlineEntry>(expire: (entry: T) => void, clock: () => number): Deadlines<T> {
  const queues = new Map<number, Queue<T>>();
  let live = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for (Infinity when it is not). */
  let armedFor = Infinity;

  function arm(deadline: number): void {
    if (timer !== undefined) clearTimeout(timer);
    armedFor = deadline;
    timer = setTimeout(fire, Math.max(RESOLUTION_MS, Math.ceil(deadline - clock())));
  }

  function fire(): void {
    timer = undefined;
    armedFor = Infinity;
    const now = clock();
    let next = Infinity;
    for (const [budget, q] of queues) {
      const { items } = q;
      while (q.head < items.length) {
        const e = items[q.head]!;
        if (e.open && e.deadline - now >= RESOLUTION_MS) {
          if (e.deadline < next) next = e.deadline;
          break;
        }
        items[q.head++] = undefined;
        if (e.open) expire(e);
      }
      if (q.head === items.length) queues.delete(budget);
      else if (q.head > 1024 && q.head * 2 > items.length) {
        q.items = items.slice(q.head);
        q.head = 0;
      }
    }
    // An expiry may have filed new entries (and armed for them) meanwhile: keep the earlier.
    if (live > 0 && next < armedFor) arm(next);
  }

  return {
    add(entry, budgetMs) {
      live++;
      let q = queues.get(budgetMs);
      if (q === undefined) queues.set(budgetMs, (q = { items: [], head: 0 }));
      q.items.push(entry);
      // Later than every entry of its own queue, so only a shorter budget can need an earlier timer.
      if (entry.deadline < armedFor) arm(entry.deadline);
    },
    closed() {
      if (--live > 0) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      armedFor = Infinity;
      queues.clear();
    },
    open() {
      const out: T[] = [];
      for (const q of queues.values()) for (let i = q.head; i < q.items.length; i++) if (q.items[i]!.open) out.push(q.items[i]!);
      return out;
    },
    get size() {
      return live;
    },
  };
}
