import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  loadAccount,
  loadSessionRecord,
  loadTrustedIdentity,
  MemoryStore,
  ProtocolError,
  saveAccount,
  saveSessionRecord,
  saveTrustedIdentity,
  type Store,
} from '../../src/index.ts';
import { FileStore, StoreLockedError } from '../../src/node.ts';
import { establishedPair } from '../protocol/helpers.ts';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'parley-store-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

const implementations: Array<[string, () => Promise<Store>]> = [
  ['MemoryStore', async () => new MemoryStore()],
  ['FileStore', () => FileStore.open(join(directory, 'profile.json'))],
];

const HOLDER = join(import.meta.dirname, 'hold-file-store.ts');

/** Starts a second Node process that opens the store at `path` and waits for a line on stdin. */
async function holdInAnotherProcess(path: string): Promise<{ child: ChildProcessWithoutNullStreams; lines: AsyncIterator<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== 'open') {
    throw new Error(`the holder process did not open the store: ${stderr}`);
  }
  return { child, lines };
}

describe.each(implementations)('%s', (_name, open) => {
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
  });

  it('discards all writes when the transaction throws', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('a', 1));

    await expect(
      store.transaction(async (tx) => {
        await tx.put('a', 2);
        await tx.put('b', 3);
        await tx.delete('a');
        throw new Error('stop');
      }),
    ).rejects.toThrow('stop');

    await store.transaction(async (tx) => {
      expect(await tx.get('a')).toBe(1);
      expect(await tx.get('b')).toBeUndefined();
    });
  });

  it('runs transactions one at a time', async () => {
    const store = await open();
    await store.transaction((tx) => tx.put('counter', 0));

    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.transaction(async (tx) => {
          const value = (await tx.get('counter')) as number;
          await new Promise((resolve) => setTimeout(resolve, 1));
          await tx.put('counter', value + 1);
        }),
      ),
    );
    expect(await store.transaction((tx) => tx.get('counter'))).toBe(20);
  });

  it('isolates stored values from callers', async () => {
    const store = await open();
    const value = { list: [1] };
    await store.transaction((tx) => tx.put('v', value));
    value.list.push(2);

    const read = (await store.transaction((tx) => tx.get('v'))) as { list: number[] };
    expect(read.list).toEqual([1]);
  });

  it('rejects values JSON cannot hold and bad keys', async () => {
    const store = await open();
    await expect(store.transaction((tx) => tx.put('u', undefined as never))).rejects.toThrow(ProtocolError);
    await expect(store.transaction((tx) => tx.put('', 1))).rejects.toThrow(ProtocolError);
    await expect(store.transaction((tx) => tx.put('big', 10n as never))).rejects.toThrow(ProtocolError);
  });

  it('stores protocol states through the typed accessors', async () => {
    const store = await open();
    const { bob, bobRecord, alice } = await establishedPair();
    await store.transaction(async (tx) => {
      await saveAccount(tx, bob);
      await saveSessionRecord(tx, 'alice', bobRecord);
      await saveTrustedIdentity(tx, 'alice', alice.identity.publicKey);
    });

    await store.transaction(async (tx) => {
      expect(await loadAccount(tx)).toEqual(bob);
      expect(await loadSessionRecord(tx, 'alice')).toEqual(bobRecord);
      expect(await loadSessionRecord(tx, 'carol')).toBeNull();
      expect(await loadTrustedIdentity(tx, 'alice')).toBe(alice.identity.publicKey);
    });
  });
});

describe('FileStore', () => {
  it('persists across reopening', async () => {
    const path = join(directory, 'nested', 'profile.json');
    const first = await FileStore.open(path);
    await first.transaction((tx) => tx.put('greeting', 'hello'));
    await first.close();

    const second = await FileStore.open(path);
    expect(await second.transaction((tx) => tx.get('greeting'))).toBe('hello');
    await second.transaction((tx) => tx.delete('greeting'));
    await second.close();
    const third = await FileStore.open(path);
    expect(await third.transaction((tx) => tx.keys())).toEqual([]);
  });

  it('leaves no temporary files and keeps the file private', async () => {
    const path = join(directory, 'profile.json');
    const store = await FileStore.open(path);
    for (let i = 0; i < 5; i++) {
      await store.transaction((tx) => tx.put(`k${i}`, i));
    }
    expect((await readdir(directory)).sort()).toEqual(['profile.json', 'profile.json.lock']);
    await store.close();
    expect(await readdir(directory)).toEqual(['profile.json']);
    const { stat } = await import('node:fs/promises');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ format: 'parley.store', v: 1 });
  });

  it('reports a corrupt file and leaves it unchanged', async () => {
    const path = join(directory, 'profile.json');
    await writeFile(path, '{"format":"parley.store","v":1,"entries":{"a":');

    const error = await FileStore.open(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('store_corrupt');
    expect((error as ProtocolError).message).toContain(path);
    expect(await readFile(path, 'utf8')).toBe('{"format":"parley.store","v":1,"entries":{"a":');

    await writeFile(path, '{"format":"parley.store","v":1,"entries":[]}');
    await expect(FileStore.open(path)).rejects.toMatchObject({ code: 'store_corrupt' });
  });

  it('reports a directory at the store path', async () => {
    await expect(FileStore.open(directory)).rejects.toMatchObject({ code: 'store_foreign' });
  });

  it('reports a foreign file and a newer version', async () => {
    const path = join(directory, 'package.json');
    await writeFile(path, '{"name":"something-else"}');
    await expect(FileStore.open(path)).rejects.toMatchObject({ code: 'store_foreign' });
    await writeFile(path, '[1,2]');
    await expect(FileStore.open(path)).rejects.toMatchObject({ code: 'store_foreign' });
    await writeFile(path, '{"format":"parley.store","v":2,"entries":{}}');
    await expect(FileStore.open(path)).rejects.toMatchObject({ code: 'unsupported_version' });
    expect(await readFile(path, 'utf8')).toBe('{"format":"parley.store","v":2,"entries":{}}');
  });

  it('keeps the old content when a commit fails', async () => {
    const path = join(directory, 'profile.json');
    const store = await FileStore.open(path);
    await store.transaction((tx) => tx.put('a', 1));

    // A directory in place of the temporary file's parent makes the write fail.
    await rm(directory, { recursive: true });
    await writeFile(directory, 'not a directory');
    await expect(store.transaction((tx) => tx.put('a', 2))).rejects.toThrow();
    expect(await store.transaction((tx) => tx.get('a'))).toBe(1);
    await rm(directory);
  });

  it('locks against a second open in one process', async () => {
    const path = join(directory, 'profile.json');
    const first = await FileStore.open(path);
    await first.transaction((tx) => tx.put('a', 1));

    const error = await FileStore.open(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as StoreLockedError).code).toBe('store_locked');
    expect((error as StoreLockedError).pid).toBe(process.pid);
    expect((error as StoreLockedError).message).toContain(path);
    expect((error as StoreLockedError).message).toContain(`PID ${process.pid}`);
    // The failed open leaves the first store's lock in place.
    await expect(FileStore.open(path)).rejects.toMatchObject({ code: 'store_locked' });

    await first.close();
    await first.close();
    const second = await FileStore.open(path);
    expect(await second.transaction((tx) => tx.get('a'))).toBe(1);
    await second.close();
  });

  it('locks against another process until it closes', async () => {
    const path = join(directory, 'profile.json');
    const { child, lines } = await holdInAnotherProcess(path);
    try {
      const error = await FileStore.open(path).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreLockedError);
      expect((error as StoreLockedError).pid).toBe(child.pid);
      expect((error as StoreLockedError).message).toContain(`process ${child.pid}`);
      expect((error as StoreLockedError).message).toContain(`${path}.lock`);

      child.stdin.write('close\n');
      expect((await lines.next()).value).toBe('closed');
      const store = await FileStore.open(path);
      await store.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('releases the lock at process exit', async () => {
    const path = join(directory, 'profile.json');
    const { child } = await holdInAnotherProcess(path);
    child.stdin.write('exit\n');
    await once(child, 'exit');
    expect(await readdir(directory)).toEqual([]);
    const store = await FileStore.open(path);
    await store.close();
  });

  it('takes over the lock of a killed process', async () => {
    const path = join(directory, 'profile.json');
    const { child } = await holdInAnotherProcess(path);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: child.pid });

    const store = await FileStore.open(path);
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    await store.close();
    expect(await readdir(directory)).toEqual([]);
  });

  it('takes over a lock with a reused pid', async () => {
    const path = join(directory, 'profile.json');
    // This process is alive, but its start marker differs, as when a dead holder's pid is reused.
    await writeFile(`${path}.lock`, JSON.stringify({ pid: process.pid === 1 ? 2 : 1, start: 'not-its-start', token: 'old' }));
    const store = await FileStore.open(path);
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    await store.close();
  });

  it('releases the lock after a failed open', async () => {
    const path = join(directory, 'profile.json');
    await writeFile(path, 'not json');
    await expect(FileStore.open(path)).rejects.toMatchObject({ code: 'store_corrupt' });
    expect(await readdir(directory)).toEqual(['profile.json']);
  });
});
