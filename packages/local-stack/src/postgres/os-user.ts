// PostgreSQL refuses to run as root. Under root, the server runs as a
// dedicated unprivileged OS user that owns the data directory.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';

const execFileAsync = promisify(execFile);

/** OS user the server runs as when the caller is root (PARLEY_PG_OS_USER overrides). */
export const DEFAULT_SERVER_OS_USER = 'postgres';

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

async function lookUpUser(name: string): Promise<ServerUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
      execFileAsync('id', ['-g', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
    ]);
    return { name, uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * Returns the OS user to run the server as: undefined for a normal user (the
 * server runs as the caller), otherwise a system user, created when missing.
 */
export async function resolveServerUser(logger: Logger): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;

  const name = process.env.PARLEY_PG_OS_USER || DEFAULT_SERVER_OS_USER;
  const existing = await lookUpUser(name);
  if (existing !== undefined) return existing;

  logger.info({ osUser: name }, 'creating the OS user that runs PostgreSQL, because PostgreSQL rejects running as root');
  try {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  } catch (error) {
    throw new Error(
      `Running as root, and creating the OS user "${name}" for PostgreSQL failed: ` +
        'create it yourself (useradd --system --user-group ' + name + ') or run as a normal user.',
      { cause: error },
    );
  }

  const created = await lookUpUser(name);
  if (created === undefined) throw new Error(`The OS user "${name}" was created but "id ${name}" cannot find it.`);
  return created;
}
