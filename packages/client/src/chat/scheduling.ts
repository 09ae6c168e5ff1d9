/**
 * Two small schedulers of the receive path: a coalescing runner, so a burst
 * of inbox notifications costs one or two fetch passes, and a batcher that
 * collects topic ids for one acknowledgement call.
 */

/**
 * Runs an async task on request, never twice at once. Requests that arrive
 * while the task runs are merged into one more run after it.
 */
export class CoalescingRunner {
  readonly #task: () => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #running: Promise<void> | undefined;
  #again = false;

  /**
   * @param task - The work to run, for example one pass over the inbox.
   * @param onError - Receives an error the task threw; the runner keeps working.
   */
  constructor(task: () => Promise<void>, onError: (error: unknown) => void) {
    this.#task = task;
    this.#onError = onError;
  }

  /** Whether a run is in progress. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Requests a run and returns a promise that settles after a run that
   * started after this request has finished.
   */
  request(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }

    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Waits for the current run, if any, and the merged run after it. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) {
      await this.#running;
    }
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#task();
      } catch (error) {
        this.#onError(error);
      }
    } while (this.#again);
  }
}

/** Options of {@link Batcher}. */
export interface BatcherOptions<T> {
  /** Items per flush at most; a full batch flushes at once. */
  maxBatch: number;
  /** Milliseconds an item may wait before a partial batch flushes. */
  maxDelayMs: number;
  /** Delivers one batch; a rejection puts the items back for the next flush. */
  flush: (items: T[]) => Promise<void>;
  /** Receives a flush error; the items stay queued. */
  onError: (error: unknown, items: T[]) => void;
  /** Milliseconds to wait after a failed flush before the next try. */
  retryDelayMs: number;
}

/**
 * Collects items and hands them to `flush` in batches of at most
 * `maxBatch`, after at most `maxDelayMs`. One flush runs at a time; items
 * of a failed flush are retried after `retryDelayMs`.
 */
export class Batcher<T> {
  readonly #options: BatcherOptions<T>;
  #queue: T[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(options: BatcherOptions<T>) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${String(options.maxBatch)}`);
    }
    this.#options = options;
  }

  /** Items waiting for a flush. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Adds items; flushes at once when a batch is full, else within `maxDelayMs`. */
  add(...items: T[]): void {
    if (items.length === 0) {
      return;
    }
    this.#queue.push(...items);

    if (this.#queue.length >= this.#options.maxBatch) {
      void this.#flushNow();
    } else {
      this.#schedule(this.#options.maxDelayMs);
    }
  }

  /** Flushes everything queued and waits until the queue is empty or a flush failed. */
  async drain(): Promise<void> {
    this.#clearTimer();
    while (this.#queue.length > 0 || this.#flushing !== undefined) {
      if (this.#flushing !== undefined) {
        await this.#flushing;
        continue;
      }
      const before = this.#queue.length;
      await this.#flushNow();
      if (this.#queue.length >= before) {
        return;
      }
    }
  }

  /** Stops the timers; queued items stay where they are and are not flushed. */
  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#closed) {
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flushNow();
    }, delayMs);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #flushNow(): Promise<void> {
    if (this.#flushing !== undefined) {
      return this.#flushing;
    }
    if (this.#queue.length === 0) {
      return Promise.resolve();
    }

    this.#clearTimer();
    const batch = this.#queue.splice(0, this.#options.maxBatch);
    this.#flushing = this.#options
      .flush(batch)
      .then(
        () => {
          if (this.#queue.length > 0) {
            this.#schedule(this.#queue.length >= this.#options.maxBatch ? 0 : this.#options.maxDelayMs);
          }
        },
        (error: unknown) => {
          this.#queue.unshift(...batch);
          this.#options.onError(error, batch);
          this.#schedule(this.#options.retryDelayMs);
        },
      )
      .finally(() => {
        this.#flushing = undefined;
      });
    return this.#flushing;
  }
}
