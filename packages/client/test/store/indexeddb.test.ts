// IndexedDbStore on fake-indexeddb, an in-memory IndexedDB for Node. The
// browser tests (tests/browser) run the same store in Chromium.
import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';

import {
  IndexedDbStore,
  loadAccount,
  loadSessionRecord,
  ProtocolError,
  saveAccount,
  saveSessionRecord,
  type JsonValue,
} from '../../src/index.ts';
import { establishedPair } from '../protocol/helpers.ts';

let factory: IDBFactory;

beforeEach(() => {
  factory = new IDBFactory();
});

function open(name = 'parley-test'): Promise<IndexedDbStore> {
  return IndexedDbStore.open(name, { indexedDB: factory });
}

/** Opens `name` directly with IndexedDB at `version`, runs `upgrade` and closes it. */
function createRawDatabase(name: string, version: number, upgrade: (db: IDBDatabase) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, version);
    request.onupgradeneeded = () => upgrade(request.result);
    request.onsuccess = () => {
      request.result.close();
      resolve();
    };
    request.onerror = () => reject(request.error);
  });
}

/** Reads every record of one object store directly, bypassing IndexedDbStore. */
function readRaw(name: string, storeName: string): Promise<Map<IDBValidKey, unknown>> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name);
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const db = request.result;
      const transaction = db.transaction(storeName, 'readonly');
      const keys = transaction.objectStore(storeName).getAllKeys();
      const values = transaction.objectStore(storeName).getAll();
      transaction.oncomplete = () => {
        db.close();
        resolve(new Map(keys.result.map((key, index) => [key, values.result[index]])));
      };
      transaction.onerror = () => reject(transaction.error);
    };
  });
}

function writeRaw(name: string, storeName: string, key: string, value: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name);
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const db = request.result;
      const transaction = db.transaction(storeName, 'readwrite');
      transaction.objectStore(storeName).put(value, key);
      transaction.oncomplete = () => {
        db.close();
        resolve();
      };
      transaction.onerror = () => reject(transaction.error);
    };
  });
}

async function expectProtocolError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(code);
  expect((error as ProtocolError).message).toMatch(message);
}

describe('IndexedDbStore', () => {
  it('commits all writes of a transaction', async () => {
    const store = await open();
    await store.transaction(async (tx) => {
      await tx.put('a', { n: 1 });
      await tx.put('b', [1, 'two', null]);
      expect(await tx.get('a')).toEqual({ n: 1 });
    });

    await store.transaction(async (tx) => {
      expect(await tx.get('a')).toEqual({ n: 1 });
      expect(await tx.get('b')).toEqual([1, 'two', null]);
      expect(await tx.get('missing')).toBeUndefined();
      expect(await tx.keys()).toEqual(['a', 'b']);
    });
    await store.close();
  });

  it('keeps entries across close and open', async () => {
    const first = await open();
    await first.transaction(async (tx) => {
      await tx.put('session/bob', { chains: [1, 2, 3] });
      await tx.put('identity/bob', 'key');
      await tx.put('gone', true);
    });
    await first.transaction((tx) => tx.delete('gone'));
    await first.close();

    const second = await open();
    await second.transaction(async (tx) => {
      expect(await tx.keys()).toEqual(['identity/bob', 'session/bob']);
      expect(await tx.get('session/bob')).toEqual({ chains: [1, 2, 3] });
    });
    await second.close();

    const raw = await readRaw('parley-test', 'entries');
    expect([...raw.keys()]).toEqual(['identity/bob', 'session/bob']);
    expect(raw.get('identity/bob')).toBe('"key"');
  });

  it('discards all writes when the transaction throws', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('a', 1));

    await expect(
      store.transaction(async (tx) => {
        await tx.put('a', 2);
        await tx.put('b', 3);
        throw new Error('stop');
      }),
    ).rejects.toThrow('stop');
    await store.close();

    const reopened = await open();
    await reopened.transaction(async (tx) => {
      expect(await tx.get('a')).toBe(1);
      expect(await tx.get('b')).toBeUndefined();
    });
    await reopened.close();
  });

  it('survives an await on WebCrypto inside a transaction', async () => {
    const store = await open();
    await store.transaction(async (tx) => {
      await tx.put('before', 1);
      const digest = await crypto.subtle.digest('SHA-256', new Uint8Array(32));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await tx.put('after', new Uint8Array(digest).length);
    });
    await store.close();

    const raw = await readRaw('parley-test', 'entries');
    expect(raw.get('before')).toBe('1');
    expect(raw.get('after')).toBe('32');
  });

  it('runs transactions one at a time in call order', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('counter', 0));

    const increments = Array.from({ length: 20 }, () =>
      store.transaction(async (tx) => {
        const value = (await tx.get('counter')) as number;
        await new Promise((resolve) => setTimeout(resolve, 1));
        await tx.put('counter', value + 1);
      }),
    );
    await Promise.all(increments);
    await store.close();

    const raw = await readRaw('parley-test', 'entries');
    expect(raw.get('counter')).toBe('20');
  });

  it('stores protocol states that load back equal', async () => {
    const { bob, bobRecord } = await establishedPair();
    const store = await open();
    await store.transaction(async (tx) => {
      await saveAccount(tx, bob);
      await saveSessionRecord(tx, 'alice', bobRecord);
    });
    await store.close();

    const reopened = await open();
    await reopened.transaction(async (tx) => {
      expect(await loadAccount(tx)).toEqual(bob);
      expect(await loadSessionRecord(tx, 'alice')).toEqual(bobRecord);
      expect(await loadSessionRecord(tx, 'carol')).toBeNull();
    });
    await reopened.close();
  });

  it('rejects values JSON cannot hold', async () => {
    const store = await open();
    await expectProtocolError(
      store.transaction((tx) => tx.put('bad', 1n as unknown as JsonValue)),
      'invalid_argument',
      /Cannot store "bad"/,
    );
    await store.transaction(async (tx) => {
      expect(await tx.keys()).toEqual([]);
    });
    await store.close();
  });

  it('rejects use after close', async () => {
    const store = await open();
    await store.close();
    await expectProtocolError(store.transaction((tx) => tx.get('a')), 'invalid_argument', /store is closed/);
  });

  it('rejects an invalid database name', async () => {
    await expectProtocolError(IndexedDbStore.open('', { indexedDB: factory }), 'invalid_argument', /Invalid IndexedDB database name ""/);
    await expectProtocolError(
      IndexedDbStore.open('x'.repeat(257), { indexedDB: factory }),
      'invalid_argument',
      /at most 256 characters/,
    );
  });

  it('reports a missing IndexedDB', async () => {
    await expectProtocolError(IndexedDbStore.open('parley-test'), 'invalid_argument', /IndexedDB is not available here/);
  });

  it('reports a database of a newer schema version', async () => {
    await createRawDatabase('parley-test', 2, (db) => {
      db.createObjectStore('entries');
      db.createObjectStore('meta');
    });

    await expectProtocolError(open(), 'unsupported_version', /written by a newer version of the app.*update the app/);
    const raw = await readRaw('parley-test', 'entries');
    expect(raw.size).toBe(0);
  });

  it('reports states of another version and leaves them unchanged', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('account', { v: 1 }));
    await store.close();
    await writeRaw('parley-test', 'meta', 'format', { format: 'parley.store', v: 2 });

    await expectProtocolError(open(), 'unsupported_version', /holds states of version 2: this SDK reads version 1/);
    const raw = await readRaw('parley-test', 'entries');
    expect(raw.get('account')).toBe('{"v":1}');
  });

  it('reports a database of another app', async () => {
    await createRawDatabase('parley-test', 1, (db) => {
      db.createObjectStore('todos');
    });
    await expectProtocolError(open(), 'store_foreign', /is not a Parley store/);
  });

  it('reports a database without the format marker', async () => {
    await createRawDatabase('parley-test', 1, (db) => {
      db.createObjectStore('entries');
      db.createObjectStore('meta');
    });
    await expectProtocolError(open(), 'store_foreign', /no "parley.store" marker/);
  });

  it('reports an entry that is not JSON text', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('good', 1));
    await store.close();
    await writeRaw('parley-test', 'entries', 'bad', { not: 'text' });
    await expectProtocolError(open(), 'store_corrupt', /entry "bad" is not JSON text/);

    await writeRaw('parley-test', 'entries', 'bad', '{truncated');
    await expectProtocolError(open(), 'store_corrupt', /entry "bad" is not JSON text/);
  });

  it('rejects commits after another connection deletes the database', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('a', 1));

    await IndexedDbStore.delete('parley-test', { indexedDB: factory });

    await expectProtocolError(store.transaction((tx) => tx.put('a', 2)), 'invalid_state', /deleted or upgraded by another connection/);
    await store.transaction(async (tx) => {
      expect(await tx.get('a')).toBe(1);
    });
    await store.close();
  });

  it('starts empty after delete', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('a', 1));
    await store.close();

    await IndexedDbStore.delete('parley-test', { indexedDB: factory });

    const fresh = await open();
    await fresh.transaction(async (tx) => {
      expect(await tx.keys()).toEqual([]);
    });
    await fresh.close();
  });

  it('keeps stores of different names apart', async () => {
    const alice = await open('parley-alice');
    const bob = await open('parley-bob');
    await alice.transaction((tx) => tx.put('who', 'alice'));
    await bob.transaction((tx) => tx.put('who', 'bob'));

    await alice.transaction(async (tx) => {
      expect(await tx.get('who')).toBe('alice');
    });
    expect(JSON.stringify(bob)).toBe('{"store":"indexeddb","name":"parley-bob"}');
    await alice.close();
    await bob.close();
  });
});
