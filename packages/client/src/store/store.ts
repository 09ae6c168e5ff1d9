/**
 * The Store interface: a small key-value store of JSON values with atomic
 * transactions, plus typed accessors for the protocol states.
 */
import { ProtocolError } from '../protocol/errors.ts';
import type { AccountState } from '../protocol/account.ts';
import type { SessionRecord } from '../protocol/session.ts';
import { deserializeAccount, deserializeSessionRecord } from '../protocol/state.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Reads and writes inside one transaction. Reads see the transaction's own writes. */
export interface StoreTransaction {
  get(key: string): Promise<JsonValue | undefined>;
  put(key: string, value: JsonValue): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys that start with `prefix`, sorted. */
  keys(prefix?: string): Promise<string[]>;
}

/**
 * A store of JSON values. `transaction` runs its callback with exclusive
 * access: when the callback resolves, all of its writes become visible and
 * durable at once; when it throws, none do. Transactions run one at a time
 * in call order, so a callback must not start another transaction on the
 * same store (it would wait for itself).
 */
export interface Store {
  transaction<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /** Waits for running transactions and releases the store. */
  close(): Promise<void>;
}

/** Key of the local account state. */
export const ACCOUNT_KEY = 'account';

/** Key of the session record with `profile`. */
export function sessionKey(profile: string): string {
  return `session/${profile}`;
}

/** Key of the trusted identity key of `profile`. */
export function identityKey(profile: string): string {
  return `identity/${profile}`;
}

export async function loadAccount(tx: StoreTransaction): Promise<AccountState | null> {
  const value = await tx.get(ACCOUNT_KEY);
  return value === undefined ? null : deserializeAccount(value);
}

export async function saveAccount(tx: StoreTransaction, account: AccountState): Promise<void> {
  await tx.put(ACCOUNT_KEY, account as unknown as JsonValue);
}

export async function loadSessionRecord(tx: StoreTransaction, profile: string): Promise<SessionRecord | null> {
  const value = await tx.get(sessionKey(profile));
  return value === undefined ? null : deserializeSessionRecord(value);
}

export async function saveSessionRecord(tx: StoreTransaction, profile: string, record: SessionRecord): Promise<void> {
  await tx.put(sessionKey(profile), record as unknown as JsonValue);
}

/** Returns the identity key the app trusts for `profile`, or null when none is on record. */
export async function loadTrustedIdentity(tx: StoreTransaction, profile: string): Promise<string | null> {
  const value = await tx.get(identityKey(profile));
  if (value === undefined) {
    return null;
  }
  if (typeof value !== 'string') {
    throw new ProtocolError('invalid_state', `Invalid trusted identity for "${profile}": expected a base64url string`);
  }
  return value;
}

export async function saveTrustedIdentity(tx: StoreTransaction, profile: string, identity: string): Promise<void> {
  await tx.put(identityKey(profile), identity);
}

/** Serializes a value to JSON text, rejecting what JSON cannot hold without loss. */
export function toJsonText(key: string, value: JsonValue): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new ProtocolError('invalid_argument', `Cannot store "${key}": the value is not serializable as JSON`, {}, { cause: error });
  }
  if (text === undefined) {
    throw new ProtocolError('invalid_argument', `Cannot store "${key}": the value is not a JSON value`);
  }
  return text;
}

/** Checks a store key: non-empty text of at most 512 characters. */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512) {
    throw new ProtocolError('invalid_argument', 'Invalid store key: pass a non-empty string of at most 512 characters');
  }
}

/**
 * Runs transactions one at a time over a map of JSON texts. `commit`
 * persists the new map and must throw when it cannot; the map only changes
 * after it succeeded.
 */
export class TransactionQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  #entries: Map<string, string>;
  readonly #commit: (next: Map<string, string>) => Promise<void>;

  constructor(entries: Map<string, string>, commit: (next: Map<string, string>) => Promise<void>) {
    this.#entries = entries;
    this.#commit = commit;
  }

  run<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new ProtocolError('invalid_argument', 'The store is closed: open it again to use it'));
    }
    const result = this.#tail.then(() => this.#execute(callback));
    this.#tail = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
  }

  async #execute<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const base = this.#entries;
    const writes = new Map<string, string | null>();
    let open = true;

    const ensureOpen = () => {
      if (!open) {
        throw new ProtocolError('invalid_argument', 'The transaction has ended: use the store inside the transaction callback only');
      }
    };
    const tx: StoreTransaction = {
      async get(key) {
        ensureOpen();
        checkKey(key);
        const text = writes.has(key) ? writes.get(key) : base.get(key);
        return text === undefined || text === null ? undefined : (JSON.parse(text) as JsonValue);
      },
      async put(key, value) {
        ensureOpen();
        checkKey(key);
        writes.set(key, toJsonText(key, value));
      },
      async delete(key) {
        ensureOpen();
        checkKey(key);
        writes.set(key, null);
      },
      async keys(prefix = '') {
        ensureOpen();
        const all = new Set<string>();
        for (const key of base.keys()) {
          if (key.startsWith(prefix) && writes.get(key) !== null) {
            all.add(key);
          }
        }
        for (const [key, text] of writes) {
          if (key.startsWith(prefix) && text !== null) {
            all.add(key);
          }
        }
        return [...all].sort();
      },
    };

    try {
      const result = await callback(tx);
      if (writes.size > 0) {
        const next = new Map(base);
        for (const [key, text] of writes) {
          if (text === null) {
            next.delete(key);
          } else {
            next.set(key, text);
          }
        }
        await this.#commit(next);
        this.#entries = next;
      }
      return result;
    } finally {
      open = false;
    }
  }
}
