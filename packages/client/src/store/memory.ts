/**
 * A Store that keeps its entries in memory, for tests, benchmarks and
 * short-lived clients. Values are kept as JSON text, so a caller never
 * shares an object with the store.
 */
import { TransactionQueue, type Store, type StoreTransaction } from './store.ts';

export class MemoryStore implements Store {
  readonly #queue = new TransactionQueue(new Map(), async () => {});

  transaction<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#queue.run(callback);
  }

  close(): Promise<void> {
    return this.#queue.close();
  }

  toJSON(): { store: 'memory' } {
    return { store: 'memory' };
  }
}
