import { readFile, readlink, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** Contents of the lock file: the supervisor and the children it started. */
export interface LockRecord {
  pid: number;
  startedAt: string;
  children: { role: string; pid: number; command: string }[];
}

const LOCK_FILE = 'stack.lock';

/** Lock files held by stacks in this process, which share one pid. */
const heldInProcess = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function executableOf(pid: number): Promise<string | undefined> {
  try {
    return await readlink(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * Takes the data folder's lock. A lock whose supervisor is still alive means another stack uses
 * the folder, which is an error. A lock left by a killed run is recovered: children it recorded
 * that still run the recorded executable are stopped, and the recovery is logged.
 */
export class StackLock {
  private record: LockRecord;

  private constructor(private readonly path: string) {
    this.record = { pid: process.pid, startedAt: new Date().toISOString(), children: [] };
  }

  static async acquire(dataDir: string, logger: Logger): Promise<StackLock> {
    await mkdir(dataDir, { recursive: true });
    const lock = new StackLock(join(dataDir, LOCK_FILE));

    let previous: LockRecord | undefined;
    try {
      const parsed = JSON.parse(await readFile(lock.path, 'utf8')) as LockRecord;
      if (typeof parsed.pid === 'number') previous = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn({ lockFile: lock.path }, 'lock file is unreadable; replacing it');
      }
    }

    const heldHere = heldInProcess.has(lock.path);
    const heldElsewhere = previous !== undefined && previous.pid !== process.pid && isAlive(previous.pid);
    if (heldHere || heldElsewhere) {
      throw new Error(
        `another local stack (pid ${previous?.pid ?? process.pid}) is using ${dataDir}; stop it first, or pass another data folder`,
      );
    }

    if (previous !== undefined) {
      await recoverChildren(previous, logger);
      logger.warn({ lockFile: lock.path, stalePid: previous.pid }, 'recovered a stale lock left by a stack that did not shut down cleanly');
    }

    // Exclusive creation, so of two stacks starting at once only one gets the folder.
    await rm(lock.path, { force: true });
    try {
      await writeFile(lock.path, JSON.stringify(lock.record, null, 2), { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      throw new Error(`another local stack started on ${dataDir} at the same time; stop it first, or pass another data folder`);
    }
    heldInProcess.add(lock.path);
    return lock;
  }

  async addChild(role: string, pid: number): Promise<void> {
    const command = (await executableOf(pid)) ?? '';
    this.record.children = this.record.children.filter((child) => child.role !== role);
    this.record.children.push({ role, pid, command });
    await this.write();
  }

  async release(): Promise<void> {
    heldInProcess.delete(this.path);
    await rm(this.path, { force: true });
  }

  private async write(): Promise<void> {
    await writeFile(this.path, JSON.stringify(this.record, null, 2));
  }
}

async function recoverChildren(previous: LockRecord, logger: Logger): Promise<void> {
  for (const child of previous.children ?? []) {
    if (!isAlive(child.pid)) continue;
    const command = await executableOf(child.pid);
    // A recycled pid runs another executable; only the recorded one is ours to stop.
    if (command === undefined || command !== child.command) continue;

    logger.warn({ role: child.role, orphanPid: child.pid }, 'stopping a process left running by a killed stack');
    process.kill(child.pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (isAlive(child.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
  }
}
