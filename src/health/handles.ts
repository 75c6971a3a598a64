/**
 * Values under small integer handles, reused once freed: for the probes a worker owes, which come
 * and go tens of thousands of times a second. A Map keyed by ever-growing ids rehashed its table as
 * entries came and went, and each table outlived enough young collections to reach the old
 * generation (bench/README.md); here the arrays only grow to the most held at once.
 */
export class Handles<T> {
  readonly #items: Array<T | undefined> = [];
  readonly #free: number[] = [];
  #size = 0;

  /** Stores `value` under a handle no value now held has. */
  add(value: T): number {
    const h = this.#free.pop() ?? this.#items.length;
    this.#items[h] = value;
    this.#size++;
    return h;
  }

  get(h: number): T | undefined {
    return this.#items[h];
  }

  /** Frees `h` for reuse (nothing when it holds nothing). */
  delete(h: number): void {
    if (this.#items[h] === undefined) return;
    this.#items[h] = undefined;
    this.#free.push(h);
    this.#size--;
  }

  get size(): number {
    return this.#size;
  }

  /** Every value held, in handle order. */
  *values(): IterableIterator<T> {
    for (const v of this.#items) if (v !== undefined) yield v;
  }
}
