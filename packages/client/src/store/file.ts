/**
 * A Store in one JSON file, for Node. Every commit writes the whole file to
 * a temporary file in the same directory, flushes it and renames it over the
 * old one, so a crash leaves either the old or the new content, never a mix.
 *
 * The file starts with a format marker; a file that is not valid JSON or
 * lacks the marker is reported (`store_corrupt`, `store_foreign`) and never
 * replaced.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

import { PROTOCOL_VERSION } from '../protocol/constants.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { TransactionQueue, type Store, type StoreTransaction } from './store.ts';

const FORMAT = 'parley.store';

/**
 * NOTE: one process per file. Two processes that open the same file do not
 * see each other's commits and the later commit wins.
 */
export class FileStore implements Store {
  readonly path: string;
  readonly #queue: TransactionQueue;

  private constructor(path: string, entries: Map<string, string>) {
    this.path = path;
    this.#queue = new TransactionQueue(entries, (next) => writeStoreFile(path, next));
  }

  /**
   * Opens the store at `path`, creating it on the first commit when the
   * file does not exist. Throws `store_corrupt`, `store_foreign` or
   * `unsupported_version` for a file it cannot use.
   */
  static async open(path: string): Promise<FileStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return new FileStore(path, new Map());
      }
      if (code === 'EISDIR') {
        throw new ProtocolError('store_foreign', `${path} is a directory, not a Parley store; pass the path of a store file`, { path });
      }
      throw error;
    }
    return new FileStore(path, parseStoreFile(path, text));
  }

  transaction<T>(callback: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#queue.run(callback);
  }

  close(): Promise<void> {
    return this.#queue.close();
  }

  toJSON(): { store: 'file'; path: string } {
    return { store: 'file', path: this.path };
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
