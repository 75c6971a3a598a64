/**
 * Numbers for objects that cross to worker threads by reference: each object (a checker, a
 * frozen options object, a target, a wake function) is given one number, its definition is sent
 * to a worker the first time that worker needs it, and afterwards only the number crosses. When
 * the main thread drops an object, its number is collected for the workers to forget.
 */
export class RefTable {
  readonly #ids = new WeakMap<object, number>();
  readonly #finalizer = new FinalizationRegistry<number>((id) => this.#gone.push(id));
  #gone: number[] = [];
  #next = 1;

  /** The object's number, given on first use; never 0 (0 means "none" on the wire). */
  id(obj: object): number {
    let id = this.#ids.get(obj);
    if (id === undefined) {
      id = this.#next++;
      this.#ids.set(obj, id);
      this.#finalizer.register(obj, id);
    }
    return id;
  }

  /** Numbers of objects collected since the last call. */
  takeGone(): number[] {
    const gone = this.#gone;
    if (gone.length > 0) this.#gone = [];
    return gone;
  }
}
