/**
 * A Store in the browser's IndexedDB, so a web app keeps its identity,
 * sessions and messages across reloads.
 *
 * The database contains two object stores: `entries` maps each store key to
 * its value as JSON text, and `meta` contains one record, `format`, with the
 * format marker and the version of the stored states. A database that lacks the
 * marker is reported as `store_foreign`, one with a newer schema or state
 * version as `unsupported_version`, and neither is ever changed.
 *
 * IndexedDB commits a transaction as soon as it has no pending request,
 * which an `await` on WebCrypto inside a Store transaction would trigger.
 * So the entries are read into memory when the store opens, each Store
 * transaction runs on that copy, and its writes are committed in one
 * IndexedDB transaction with strict durability before they become visible.
 * That copy is only correct while no other connection writes the database:
 * `open` takes an exclusive Web Lock on the name and rejects a second opener,
 * for example the same app in another tab.
 */
import { PROTOCOL_VERSION } from '../protocol/constants.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { TransactionQueue, type Store, type StoreTransaction } from './store.ts';

/** Version of the object store layout, passed to `indexedDB.open`. */
export const INDEXEDDB_SCHEMA_VERSION = 1;

const FORMAT = 'parley.store';
const ENTRIES = 'entries';
const META = 'meta';
const FORMAT_KEY = 'format';

/** Maximum length of a database name, in characters. */
const MAX_NAME_LENGTH = 256;

/**
 * Milliseconds `open` waits for the store's Web Lock. A reloading page may
 * still hold it for a moment while the browser tears the old document down.
 */
const LOCK_WAIT_MS = 2000;

/** Options of {@link IndexedDbStore.open}. */
export interface IndexedDbStoreOptions {
  /** IndexedDB implementation. Default: `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
  /**
   * Web Locks implementation used to keep other tabs out. Default:
   * `navigator.locks` where it exists; without one, no lock is taken.
   */
  locks?: LockManager;
}

/**
 * A Store backed by one IndexedDB database. One open store per database:
 * a second `open` of the same name, in this or another tab, waits two
 * seconds for the first to close and is rejected after that.
 */
export class IndexedDbStore implements Store {
  /** Name of the IndexedDB database. */
  readonly name: string;
  readonly #db: IDBDatabase;
  readonly #queue: TransactionQueue;
  readonly #releaseLock: () => void;
  /** Entries as last committed, to compute each commit's changes. */
  #committed: Map<string, string>;
  /** Set when another connection deleted or upgraded the database. */
  #lostReason: string | undefined;

  private constructor(name: string, db: IDBDatabase, entries: Map<string, string>, releaseLock: () => void) {
    this.name = name;
    this.#db = db;
    this.#committed = entries;
    this.#releaseLock = releaseLock;
    this.#queue = new TransactionQueue(entries, (next) => this.#commit(next));

    db.onversionchange = () => {
      // Closing lets the other connection go ahead; this store rejects further commits.
      this.#lostReason = `IndexedDB database "${name}" was deleted or upgraded by another connection`;
      db.close();
    };
  }

  /**
   * Opens the store in the IndexedDB database `name`, creating the database
   * when it does not exist.
   *
   * @throws ProtocolError `invalid_argument` for a bad name or a missing
   *   IndexedDB. `store_locked` for a database open in another tab or
   *   window, or held open by an older version. `unsupported_version` for a
   *   database written by a newer version of the SDK. `store_foreign` for a
   *   database of another app. `store_corrupt` for unreadable entries.
   */
  static async open(name: string, options: IndexedDbStoreOptions = {}): Promise<IndexedDbStore> {
    checkDatabaseName(name);
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (factory === undefined) {
      throw new ProtocolError(
        'invalid_argument',
        'IndexedDB is not available here: use IndexedDbStore in a browser, or pass options.indexedDB',
      );
    }

    const releaseLock = await acquireLock(name, options.locks ?? defaultLocks());
    try {
      const db = await openDatabase(factory, name);
      try {
        const entries = await readEntries(db, name);
        return new IndexedDbStore(name, db, entries, releaseLock);
      } catch (error) {
        db.close();
        throw error;
      }
    } catch (error) {
      releaseLock();
      throw error;
    }
  }

  /**
   * Deletes the database `name` with everything in it: identity, sessions
   * and messages. Close the store first; resolves once the database is gone.
   *
   * @throws ProtocolError `store_locked` while a connection (in this or
   *   another tab) keeps the database open.
   */
  static async delete(name: string, options: Pick<IndexedDbStoreOptions, 'indexedDB'> = {}): Promise<void> {
    checkDatabaseName(name);
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (factory === undefined) {
      throw new ProtocolError('invalid_argument', 'IndexedDB is not available here: pass options.indexedDB');
    }
    const request = factory.deleteDatabase(name);
    await new Promise<void>((resolve, reject) => {
      request.onsuccess = () => resolve();
      request.onerror = () => reject(storageError(`deleting IndexedDB database "${name}"`, request.error));
      request.onblocked = () =>
        reject(new ProtocolError('store_locked', `IndexedDB database "${name}" is still open: close the store (and other tabs using it) first`));
    });
  }

  transaction<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#queue.run(callback);
  }

  async close(): Promise<void> {
    await this.#queue.close();
    this.#db.close();
    this.#releaseLock();
  }

  toJSON(): { store: 'indexeddb'; name: string } {
    return { store: 'indexeddb', name: this.name };
  }

  /** Writes the entries that differ from the last commit in one IndexedDB transaction. */
  async #commit(next: Map<string, string>): Promise<void> {
    if (this.#lostReason !== undefined) {
      throw new ProtocolError('invalid_state', `${this.#lostReason}; open the store again`);
    }

    const previous = this.#committed;
    let transaction: IDBTransaction;
    try {
      transaction = this.#db.transaction(ENTRIES, 'readwrite', { durability: 'strict' });
    } catch (error) {
      throw storageError(`writing IndexedDB database "${this.name}"`, error);
    }
    const objectStore = transaction.objectStore(ENTRIES);
    for (const [key, text] of next) {
      if (previous.get(key) !== text) {
        objectStore.put(text, key);
      }
    }
    for (const key of previous.keys()) {
      if (!next.has(key)) {
        objectStore.delete(key);
      }
    }

    await transactionDone(transaction, `writing IndexedDB database "${this.name}"`);
    this.#committed = next;
  }
}

function checkDatabaseName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new ProtocolError(
      'invalid_argument',
      `Invalid IndexedDB database name ${JSON.stringify(String(name).slice(0, 80))}: pass a non-empty string of at most ${MAX_NAME_LENGTH} characters`,
    );
  }
}

function defaultLocks(): LockManager | undefined {
  return (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
}

/**
 * Takes the exclusive Web Lock `parley-store:<name>` and returns the
 * function that releases it. Waits up to {@link LOCK_WAIT_MS} for another
 * holder to let go, then rejects.
 */
async function acquireLock(name: string, locks: LockManager | undefined): Promise<() => void> {
  if (locks === undefined) {
    // NOTE: without Web Locks (Node 20, old browsers) two openers of one database are not kept apart.
    return () => {};
  }

  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });

  const acquired = await new Promise<boolean>((resolve, reject) => {
    locks
      .request(`parley-store:${name}`, { mode: 'exclusive', signal: AbortSignal.timeout(LOCK_WAIT_MS) }, async () => {
        resolve(true);
        await released;
      })
      .catch((error: unknown) => {
        const errorName = (error as { name?: unknown } | null)?.name;
        if (errorName === 'AbortError' || errorName === 'TimeoutError') {
          resolve(false);
        } else {
          reject(error);
        }
      });
  });

  if (!acquired) {
    throw new ProtocolError(
      'store_locked',
      `IndexedDB database "${name}" is already open in another tab or window: close it there, or open another store name`,
    );
  }
  return release;
}

function openDatabase(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, INDEXEDDB_SCHEMA_VERSION);
    } catch (error) {
      reject(storageError(`opening IndexedDB database "${name}"`, error));
      return;
    }

    request.onupgradeneeded = (event) => {
      const db = request.result;
      if (event.oldVersion !== 0) {
        // Only reachable once a later schema version exists; until then every older database is version 0.
        request.transaction?.abort();
        return;
      }
      db.createObjectStore(ENTRIES);
      const meta = db.createObjectStore(META);
      meta.put({ format: FORMAT, v: PROTOCOL_VERSION }, FORMAT_KEY);
    };

    request.onsuccess = () => resolve(request.result);

    request.onerror = () => {
      const error = request.error;
      if (error?.name === 'VersionError') {
        reject(
          new ProtocolError(
            'unsupported_version',
            `IndexedDB database "${name}" was written by a newer version of the app (schema newer than ${INDEXEDDB_SCHEMA_VERSION}): update the app, or delete the site data to start over`,
          ),
        );
        return;
      }
      reject(storageError(`opening IndexedDB database "${name}"`, error));
    };

    request.onblocked = () => {
      reject(
        new ProtocolError(
          'store_locked',
          `IndexedDB database "${name}" is held open by an older version of the app in another tab: close that tab and reload`,
        ),
      );
    };
  });
}

/** Checks the format marker and reads every entry in one read-only transaction. */
async function readEntries(db: IDBDatabase, name: string): Promise<Map<string, string>> {
  if (!db.objectStoreNames.contains(ENTRIES) || !db.objectStoreNames.contains(META)) {
    throw foreign(name);
  }

  const transaction = db.transaction([ENTRIES, META], 'readonly');
  const marker = transaction.objectStore(META).get(FORMAT_KEY);
  const keys = transaction.objectStore(ENTRIES).getAllKeys();
  const values = transaction.objectStore(ENTRIES).getAll();
  await transactionDone(transaction, `reading IndexedDB database "${name}"`);

  const format = marker.result as { format?: unknown; v?: unknown } | undefined;
  if (typeof format !== 'object' || format === null || format.format !== FORMAT) {
    throw foreign(name);
  }
  if (format.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      'unsupported_version',
      `IndexedDB database "${name}" holds states of version ${JSON.stringify(format.v)}: this SDK reads version ${PROTOCOL_VERSION}; update the app, or delete the site data to start over`,
    );
  }

  const entries = new Map<string, string>();
  keys.result.forEach((key, index) => {
    const text = values.result[index];
    if (typeof key !== 'string' || typeof text !== 'string' || !isJsonText(text)) {
      throw new ProtocolError(
        'store_corrupt',
        `IndexedDB database "${name}" is corrupt: entry ${JSON.stringify(String(key).slice(0, 80))} is not JSON text. It was left unchanged`,
      );
    }
    entries.set(key, text);
  });
  return entries;
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function foreign(name: string): ProtocolError {
  return new ProtocolError(
    'store_foreign',
    `IndexedDB database "${name}" is not a Parley store (no "${FORMAT}" marker): pass the name of a Parley store or a name not in use yet`,
  );
}

function transactionDone(transaction: IDBTransaction, action: string): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(storageError(action, transaction.error));
    transaction.onabort = () => reject(storageError(action, transaction.error));
  });
}

/** Wraps a DOMException from IndexedDB; a full quota gets its own hint. */
function storageError(action: string, error: unknown): ProtocolError {
  const name = (error as { name?: unknown } | null)?.name;
  const message = (error as { message?: unknown } | null)?.message;
  const hint =
    name === 'QuotaExceededError'
      ? 'the browser storage quota is used up, so free space for this site'
      : 'check that the browser allows site storage (private windows may not)';

  let reason = '';
  if (typeof name === 'string') {
    reason = typeof message === 'string' && message !== '' ? ` (${name}: ${message})` : ` (${name})`;
  }
  return new ProtocolError('invalid_state', `${action} failed${reason}: ${hint}`, {}, { cause: error });
}
