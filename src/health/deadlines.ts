/**
 * The deadlines of every probe in flight, kept by one timer instead of a setTimeout per probe.
 * Probes with the same budget end in the order they started, so each budget has a FIFO queue
 * whose head is its earliest deadline; the one timer is armed for the earliest head. A probe that
 * answers early leaves a hole in its queue (found by its sequence number, no search), so the queue
 * holds no answered probe alive: at thousands of probes a second, keeping them until their
 * deadline would promote them all to the old generation. When nothing is open the timer is
 * cleared and the queues dropped, so an idle runner holds no timer.
 * Unlike the scheduler's timing wheel this is exact to the millisecond: a probe is answered at its
 * deadline, not at the end of a slot after it.
 */

export interface DeadlineEntry {
  /** Clock value at which the entry expires. */
  readonly deadline: number;
}

export interface Deadlines<T extends DeadlineEntry> {
  /**
   * Files an entry whose deadline is `clock() + budgetMs` (the entries of one budget must come in
   * deadline order, as they do when the clock is monotonic); returns its ticket for `close`.
   */
  add(entry: T, budgetMs: number): number;
  /** Unfiles an entry that was answered (or expired); the last one open clears the timer. */
  close(budgetMs: number, ticket: number): void;
  /** The open entries. */
  open(): T[];
  /** Open entries. */
  readonly size: number;
}

/** The entries of one budget: `items[i]` has ticket `base + i`; before `head` all are gone. */
interface Queue<T> {
  items: (T | undefined)[];
  head: number;
  base: number;
}

/** Below this a timer would fire before the entry's deadline on libuv's millisecond clock. */
const RESOLUTION_MS = 1;

/**
 * `expire` is called once for each entry whose deadline passes while it is filed; it must close
 * the entry. `clock` must be the clock the timers run on (monotonic milliseconds; a test's fake one).
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

  /** Drops the gone entries before `head` once they are most of the array. */
  function compact(q: Queue<T>): void {
    if (q.head === q.items.length) {
      q.base += q.head;
      q.items = [];
      q.head = 0;
    } else if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.base += q.head;
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
  }

  function fire(): void {
    timer = undefined;
    armedFor = Infinity;
    const now = clock();
    let next = Infinity;
    for (const q of queues.values()) {
      while (q.head < q.items.length) {
        const e = q.items[q.head];
        if (e !== undefined) {
          if (e.deadline - now >= RESOLUTION_MS) {
            if (e.deadline < next) next = e.deadline;
            break;
          }
          expire(e); // closes it: its slot becomes a hole
        }
        q.head++;
      }
      compact(q);
    }
    // An expiry may have filed new entries (and armed for them) meanwhile: keep the earlier.
    if (live > 0 && next < armedFor) arm(next);
  }

  return {
    add(entry, budgetMs) {
      live++;
      let q = queues.get(budgetMs);
      if (q === undefined) queues.set(budgetMs, (q = { items: [], head: 0, base: 0 }));
      const ticket = q.base + q.items.length;
      q.items.push(entry);
      // Later than every entry of its own queue, so only a shorter budget can need an earlier timer.
      if (entry.deadline < armedFor) arm(entry.deadline);
      return ticket;
    },
    close(budgetMs, ticket) {
      const q = queues.get(budgetMs);
      const i = q === undefined ? -1 : ticket - q.base;
      if (i >= q!.head && i < q!.items.length) q!.items[i] = undefined;
      if (--live > 0) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      armedFor = Infinity;
      queues.clear();
    },
    open() {
      const out: T[] = [];
      for (const q of queues.values()) for (let i = q.head; i < q.items.length; i++) if (q.items[i] !== undefined) out.push(q.items[i]!);
      return out;
    },
    get size() {
      return live;
    },
  };
}
