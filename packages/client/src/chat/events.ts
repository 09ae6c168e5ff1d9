/**
 * A small typed event emitter and an async queue, free of Node APIs so the
 * chat layer runs in browsers, Node and Deno alike.
 */

/**
 * Typed event emitter. A listener that throws does not stop the others; the
 * error goes to the `onListenerError` callback.
 */
export class TypedEmitter<Events> {
  readonly #listeners = new Map<keyof Events, Set<(value: never) => void>>();
  readonly #onListenerError: (error: unknown, event: keyof Events) => void;

  constructor(onListenerError: (error: unknown, event: keyof Events) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener and returns the function that removes it. */
  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (value: never) => void);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as (value: never) => void);
  }

  /** Calls every listener of `event` with `value`, in the order they were added. */
  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) {
      return;
    }
    for (const listener of [...set]) {
      try {
        (listener as (value: Events[K]) => void)(value);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}

/**
 * Unbounded queue read as an async iterator. `close` ends every pending and
 * later `next` call once the queued items are consumed.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  readonly #waiting: Array<(result: IteratorResult<T>) => void> = [];
  #closed = false;

  /** Appends an item, or hands it to a waiting reader. Ignored after `close`. */
  push(item: T): void {
    if (this.#closed) {
      return;
    }
    const reader = this.#waiting.shift();
    if (reader !== undefined) {
      reader({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  /** Ends the iteration after the queued items. */
  close(): void {
    this.#closed = true;
    for (const reader of this.#waiting.splice(0)) {
      reader({ value: undefined, done: true });
    }
  }

  /** Returns the next item, waiting for one when the queue is empty. */
  next(): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) {
      return Promise.resolve({ value: item, done: false });
    }
    if (this.#closed) {
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Ends the iteration and drops queued items; called when a `for await` loop breaks. */
  return(): Promise<IteratorResult<T>> {
    this.close();
    this.#items.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
