/**
 * A Store in one JSON file, for Node. Every commit writes the whole file to
 * a temporary file in the same directory, flushes it and renames it over the
 * old one, so a crash leaves either the old or the new content, never a mix.
 *
 * The file starts with a format marker; a file that is not valid JSON or
 * lacks the marker is reported (`store_corrupt`, `store_foreign`) and never
 * replaced.
 *
 * An open store keeps the lock file `<path>.lock`, which contains the id of
 * its process. A second open, in another process or in the same one, fails
 * with `store_locked`, so two stores never advance the same ratchets.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { PROTOCOL_VERSION } from '../protocol/constants.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { TransactionQueue, type Store, type StoreTransaction } from './store.ts';

const FORMAT = 'parley.store';

/** Error `store_locked` of {@link FileStore.open}: another open store has the file locked. */
export class StoreLockedError extends ProtocolError {
  /** Process id of the process that has the store open. */
  readonly pid: number;
  /** Path of the lock file. */
  readonly lockPath: string;

  constructor(path: string, lockPath: string, pid: number) {
    const holder = pid === process.pid ? `this process (PID ${pid})` : `process ${pid}`;
    super(
      'store_locked',
      `Store file ${path} is already open in ${holder}: close the store there first. ` +
        `If no such process runs, delete ${lockPath}`,
      { path },
    );
    this.pid = pid;
    this.lockPath = lockPath;
  }
}

export class FileStore implements Store {
  readonly path: string;
  readonly #queue: TransactionQueue;
  readonly #lock: StoreLock;
  #closing: Promise<void> | undefined;

  private constructor(path: string, entries: Map<string, string>, lock: StoreLock) {
    this.path = path;
    this.#lock = lock;
    this.#queue = new TransactionQueue(entries, (next) => writeStoreFile(path, next));
  }

  /**
   * Opens the store at `path`, creating it on the first commit when the
   * file does not exist, and keeps `<path>.lock` until {@link close} or
   * the end of the process. A lock left by a process that no longer runs
   * is taken over.
   *
   * @throws StoreLockedError (`store_locked`) while another open store, in
   *   this or another process, has the file locked.
   * @throws ProtocolError `store_corrupt`, `store_foreign` or
   *   `unsupported_version` for a file it cannot use.
   */
  static async open(path: string): Promise<FileStore> {
    const lock = await StoreLock.acquire(path);
    try {
      return new FileStore(path, await readStore(path), lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  transaction<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#queue.run(callback);
  }

  /** Waits for running transactions and releases the lock file. */
  close(): Promise<void> {
    this.#closing ??= this.#queue.close().finally(() => this.#lock.release());
    return this.#closing;
  }

  toJSON(): { store: 'file'; path: string } {
    return { store: 'file', path: this.path };
  }
}

async function readStore(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return new Map();
    }
    if (code === 'EISDIR') {
      throw new ProtocolError('store_foreign', `${path} is a directory, not a Parley store; pass the path of a store file`, { path });
    }
    throw error;
  }
  return parseStoreFile(path, text);
}

/** Lock files of this process's open stores, removed at exit when close() was not called. */
const heldLocks = new Map<string, string>();
let exitHookInstalled = false;

function releaseHeldLocksAtExit(): void {
  for (const [lockPath, content] of heldLocks) {
    try {
      if (readFileSync(lockPath, 'utf8') === content) {
        unlinkSync(lockPath);
      }
    } catch {
      // Best effort at exit: a lock left behind names a dead process and is taken over by the next open.
    }
  }
  heldLocks.clear();
}

/**
 * Start time of process `pid` in clock ticks since boot (field 22 of
 * /proc/<pid>/stat), or undefined where /proc does not exist. With the pid
 * it distinguishes a live holder from a new process that reuses its pid.
 */
function processStartMarker(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in field 2 may contain spaces and parentheses, so fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockContent {
  pid: number;
  start?: string;
  token: string;
}

/** Returns the live holder named by a lock file's text, or undefined when the lock is stale. */
function liveHolder(text: string): LockContent | undefined {
  let content: Partial<LockContent>;
  try {
    content = JSON.parse(text) as Partial<LockContent>;
  } catch {
    // Lock files appear complete (linked from a written file), so one that is not JSON was not written by a FileStore.
    return undefined;
  }
  const pid = content.pid;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0 || !processIsAlive(pid)) {
    return undefined;
  }
  if (pid !== process.pid && content.start !== undefined) {
    const start = processStartMarker(pid);
    if (start !== undefined && start !== content.start) {
      return undefined;
    }
  }
  return content as LockContent;
}

class StoreLock {
  readonly #path: string;
  readonly #content: string;
  #released = false;

  private constructor(path: string, content: string) {
    this.#path = path;
    this.#content = content;
  }

  static async acquire(storePath: string): Promise<StoreLock> {
    const lockPath = `${storePath}.lock`;
    await mkdir(dirname(lockPath), { recursive: true });
    const content: LockContent = { pid: process.pid, token: randomBytes(9).toString('base64url') };
    const start = processStartMarker(process.pid);
    if (start !== undefined) {
      content.start = start;
    }
    const text = `${JSON.stringify(content)}\n`;

    // The content goes to a private file first and is linked into place, so the lock never exists half written.
    const temporary = `${lockPath}.${content.token}.tmp`;
    await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await link(temporary, lockPath);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) {
            throw error;
          }
        }
        let existing: string;
        try {
          existing = await readFile(lockPath, 'utf8');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            continue;
          }
          throw error;
        }
        const holder = liveHolder(existing);
        if (holder !== undefined) {
          throw new StoreLockedError(storePath, lockPath, holder.pid);
        }
        // NOTE: two processes that take over the same stale lock at the same moment can both succeed.
        await unlink(lockPath).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') {
            throw error;
          }
        });
      }
    } finally {
      await rm(temporary, { force: true });
    }

    heldLocks.set(lockPath, text);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', releaseHeldLocksAtExit);
    }
    return new StoreLock(lockPath, text);
  }

  /** Removes the lock file if it is still this lock's. */
  async release(): Promise<void> {
    if (this.#released) {
      return;
    }
    this.#released = true;
    heldLocks.delete(this.#path);
    try {
      if ((await readFile(this.#path, 'utf8')) === this.#content) {
        await unlink(this.#path);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
  }
}

function parseStoreFile(path: string, text: string): Map<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError(
      'store_corrupt',
      `Store file ${path} is corrupt: it is not valid JSON. Restore it from a backup; it was left unchanged`,
      { path },
    );
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value) || (value as { format?: unknown }).format !== FORMAT) {
    throw new ProtocolError(
      'store_foreign',
      `File ${path} is not a Parley store (no "format": "${FORMAT}" marker); pass the path of a store file or a path that does not exist yet`,
      { path },
    );
  }

  const { v, entries } = value as { v?: unknown; entries?: unknown };
  if (v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      'unsupported_version',
      `Store file ${path} has version ${JSON.stringify(v)}: this SDK reads version ${PROTOCOL_VERSION}; update the SDK`,
      { path },
    );
  }
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new ProtocolError('store_corrupt', `Store file ${path} is corrupt: "entries" is not an object. It was left unchanged`, { path });
  }

  const map = new Map<string, string>();
  for (const [key, entry] of Object.entries(entries)) {
    map.set(key, JSON.stringify(entry));
  }
  return map;
}

async function writeStoreFile(path: string, entries: Map<string, string>): Promise<void> {
  const parts: string[] = [];
  for (const [key, text] of entries) {
    parts.push(`${JSON.stringify(key)}:${text}`);
  }
  const content = `{"format":"${FORMAT}","v":${PROTOCOL_VERSION},"entries":{${parts.join(',')}}}\n`;

  const directory = dirname(path);
  await mkdir(directory, { recursive: true });
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;

  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }

  // Flush the directory entry so the rename itself survives a power loss (not supported on every platform).
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Directory fsync is best effort: Windows rejects it, and the data file itself is already flushed.
  }
}
