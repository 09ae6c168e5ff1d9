// Starts and stops a PostgreSQL cluster on 127.0.0.1 for the local stack, the
// database tests and the benchmarks, without Docker.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { type Logger, pino } from 'pino';
import { type Binaries, type BinariesKind, binariesKindFromEnv, resolveBinaries } from './binaries.ts';
import { type ServerUser, resolveServerUser } from './os-user.ts';

export interface ClusterOptions {
  dataDir: string;
  /** TCP port on 127.0.0.1; 0 or absent picks a free port. */
  port?: number;
  /** Server binaries; the default is env PARLEY_PG_BINARIES, else 'embedded'. */
  binaries?: BinariesKind;
  logger?: Logger;
  /** Extra server settings passed as `-c name=value`, for example `{ fsync: 'off' }` for throwaway clusters. */
  settings?: Record<string, string>;
}

export interface Cluster {
  host: string;
  port: number;
  /** Connection URL of the `postgres` superuser, with its password. */
  superuserUrl: string;
  dataDir: string;
  binaries: BinariesKind;
  /** pg_cron is preloaded, so `create extension pg_cron` works in the `postgres` database. */
  hasPgCron: boolean;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';
const DATABASE = 'postgres';
/** File in the data directory with the superuser's password, readable only by its owner. */
const PASSWORD_FILE = 'parley-superuser-password';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 5;
const LOG_TAIL_LINES = 40;

interface RunResult {
  code: number | null;
  output: string;
}

function run(command: string, args: string[], user: ServerUser | undefined): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, output }));
  });
}

async function findFreePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

async function isEmptyDirectory(path: string): Promise<boolean> {
  if (!existsSync(path)) return true;
  return (await readdir(path)).length === 0;
}

async function initializeDataDir(
  dataDir: string,
  binaries: Binaries,
  user: ServerUser | undefined,
  logger: Logger,
): Promise<string> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (user !== undefined) await chown(dataDir, user.uid, user.gid);

  const password = randomBytes(24).toString('base64url');
  const passwordDir = await mkdtemp(join(tmpdir(), 'parley-initdb-'));
  const passwordPath = join(passwordDir, 'password');
  try {
    await writeFile(passwordPath, `${password}\n`, { mode: 0o600 });
    if (user !== undefined) {
      await chown(passwordDir, user.uid, user.gid);
      await chown(passwordPath, user.uid, user.gid);
    }

    logger.info({ dataDir, binaries: binaries.kind, version: binaries.majorVersion }, 'initializing a new PostgreSQL cluster');
    const result = await run(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordPath}`,
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
      ],
      user,
    );
    if (result.code !== 0) {
      throw new Error(`initdb failed for ${dataDir} (exit code ${result.code}):\n${result.output.trim()}`);
    }
  } finally {
    await rm(passwordDir, { recursive: true, force: true });
  }

  await writeFile(join(dataDir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
  return password;
}

async function readExistingDataDir(dataDir: string, binaries: Binaries): Promise<string> {
  const versionPath = join(dataDir, 'PG_VERSION');
  if (!existsSync(versionPath)) {
    throw new Error(
      `${dataDir} is neither empty nor a PostgreSQL data directory (no PG_VERSION): empty it or choose another dataDir.`,
    );
  }

  const dataVersion = Number.parseInt((await readFile(versionPath, 'utf8')).trim(), 10);
  if (dataVersion !== binaries.majorVersion) {
    throw new Error(
      `${dataDir} contains a PostgreSQL ${dataVersion} cluster, but the ${binaries.kind} binaries are PostgreSQL ` +
        `${binaries.majorVersion}: use a separate dataDir per PostgreSQL version, or delete this one.`,
    );
  }

  const passwordPath = join(dataDir, PASSWORD_FILE);
  if (!existsSync(passwordPath)) {
    throw new Error(`${dataDir} was not created by this launcher (no ${PASSWORD_FILE}): delete it or choose another dataDir.`);
  }
  return (await readFile(passwordPath, 'utf8')).trim();
}

async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user, so it is not a server this launcher started.
    return false;
  }
  try {
    // The postmaster's working directory is its data directory.
    return (await readlink(`/proc/${pid}/cwd`)) === (await realpath(dataDir));
  } catch {
    // Without /proc the process cannot be inspected; assume it is the server.
    return true;
  }
}

async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesized command name: state, ppid, ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number.parseInt(fields[1] ?? '', 10);
  } catch {
    return undefined;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Cleans up after a killed run: a postmaster.pid whose process is gone is
 * removed, and a server on this dataDir whose launching process was killed
 * (so init adopted it) gets a fast shutdown. A server with a live parent is
 * left alone and reported.
 */
async function recoverFromKilledRun(dataDir: string, logger: Logger): Promise<void> {
  const pidPath = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidPath)) return;

  const pid = Number.parseInt((await readFile(pidPath, 'utf8')).split('\n')[0] ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && (await isPostmasterOf(pid, dataDir))) {
    if ((await parentPid(pid)) !== 1) {
      throw new Error(
        `PostgreSQL is already running on ${dataDir} (pid ${pid}): stop that server first, or use another dataDir.`,
      );
    }

    logger.warn({ dataDir, orphanPid: pid }, 'stopping a PostgreSQL server left running by a killed run on this data directory');
    process.kill(pid, 'SIGINT');
    if (!(await waitForExit(pid, STOP_TIMEOUT_MS))) {
      throw new Error(`PostgreSQL (pid ${pid}) left running on ${dataDir} by a killed run did not stop within ${STOP_TIMEOUT_MS} ms.`);
    }
    if (!existsSync(pidPath)) return;
  }

  logger.warn({ dataDir, stalePid: pid }, 'removing a stale postmaster.pid left by a PostgreSQL server that was killed');
  await unlink(pidPath);
}

function serverArguments(dataDir: string, port: number, binaries: Binaries, settings: Record<string, string>): string[] {
  const merged: Record<string, string> = {
    listen_addresses: HOST,
    // TCP only: no socket file in a shared folder such as /tmp or /var/run/postgresql.
    unix_socket_directories: '',
  };
  if (binaries.hasPgCron) {
    merged.shared_preload_libraries = 'pg_cron';
    merged['cron.database_name'] = DATABASE;
    // Background workers run the jobs without a libpq connection, so no password is needed.
    merged['cron.use_background_workers'] = 'on';
  }
  Object.assign(merged, settings);

  const args = ['-D', dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(merged)) args.push('-c', `${name}=${value}`);
  return args;
}

async function canConnect(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => undefined });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 0 });
  }
}

interface StartedServer {
  child: ChildProcess;
  port: number;
}

class ServerStartError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

async function startServer(
  dataDir: string,
  port: number,
  password: string,
  binaries: Binaries,
  user: ServerUser | undefined,
  settings: Record<string, string>,
  logger: Logger,
): Promise<StartedServer> {
  const child = spawn(binaries.postgres, serverArguments(dataDir, port, binaries, settings), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
    ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
  });

  const tail: string[] = [];
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      logger.debug({ serverPid: child.pid, port }, line);
    }
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);

  let exited = false;
  const exitPromise = new Promise<void>((resolvePromise) => {
    child.once('exit', () => {
      exited = true;
      resolvePromise();
    });
    child.once('error', (error) => {
      tail.push(String(error));
      exited = true;
      resolvePromise();
    });
  });

  const url = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/${DATABASE}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!exited) {
    if (await canConnect(url)) return { child, port };
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      await exitPromise;
      throw new ServerStartError(`PostgreSQL did not accept connections within ${READY_TIMEOUT_MS} ms:\n${tail.join('\n')}`, false);
    }
    await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 100))]);
  }

  const output = tail.join('\n');
  throw new ServerStartError(
    `PostgreSQL exited during startup (data directory ${dataDir}, port ${port}):\n${output}`,
    /could not bind|Address already in use/i.test(output),
  );
}

/**
 * Starts PostgreSQL on 127.0.0.1. An empty or missing dataDir gets a new
 * cluster (initdb); an existing one is reused. Under root the server runs as
 * the OS user `postgres` (created when missing), which owns the data directory.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const logger = options.logger ?? pino({ name: 'postgres', level: process.env.PARLEY_LOG_LEVEL ?? 'info' });
  const kind = options.binaries ?? binariesKindFromEnv();
  const binaries = await resolveBinaries(kind, logger);
  const user = await resolveServerUser(logger);
  const dataDir = resolve(options.dataDir);

  const password = (await isEmptyDirectory(dataDir))
    ? await initializeDataDir(dataDir, binaries, user, logger)
    : await readExistingDataDir(dataDir, binaries);
  if (user !== undefined) await chown(dataDir, user.uid, user.gid);
  await chmod(dataDir, 0o700);
  await recoverFromKilledRun(dataDir, logger);

  const fixedPort = options.port !== undefined && options.port !== 0 ? options.port : undefined;
  let started: StartedServer | undefined;
  for (let attempt = 1; started === undefined; attempt += 1) {
    const port = fixedPort ?? (await findFreePort());
    try {
      started = await startServer(dataDir, port, password, binaries, user, options.settings ?? {}, logger);
    } catch (error) {
      // Another process can take an automatically chosen port between the probe and the bind.
      const retry = error instanceof ServerStartError && error.portInUse && fixedPort === undefined && attempt < PORT_ATTEMPTS;
      if (!retry) throw error;
      logger.warn({ port, attempt }, 'port was taken before PostgreSQL could bind it; retrying with another port');
    }
  }

  const { child, port } = started;
  // A Node process that exits without stop() still sends the server SIGINT (fast shutdown).
  const stopOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  process.once('exit', stopOnExit);

  logger.info({ dataDir, port, binaries: kind, version: binaries.majorVersion, serverPid: child.pid }, 'PostgreSQL started');

  const stop = async (): Promise<void> => {
    process.removeListener('exit', stopOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;

    const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
    child.kill('SIGINT');
    const timer = setTimeout(() => {
      logger.warn({ serverPid: child.pid, dataDir }, `PostgreSQL did not stop within ${STOP_TIMEOUT_MS} ms; sending SIGQUIT`);
      child.kill('SIGQUIT');
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    logger.info({ dataDir, port }, 'PostgreSQL stopped');
  };

  return {
    host: HOST,
    port,
    superuserUrl: `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/${DATABASE}`,
    dataDir,
    binaries: kind,
    hasPgCron: binaries.hasPgCron,
    stop,
  };
}
