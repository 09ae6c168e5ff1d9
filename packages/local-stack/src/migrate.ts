// Prepares a plain PostgreSQL database for Parley: the Supabase compatibility
// bootstrap, then the project's migrations applied by the Supabase CLI.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { type Logger, pino } from 'pino';

const require = createRequire(import.meta.url);

/** Repository root: the folder that contains `supabase/`. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BOOTSTRAP_SQL_PATH = fileURLToPath(new URL('../sql/bootstrap.sql', import.meta.url));

/** Path of the Supabase CLI's Node entry point from the `supabase` npm package. */
export function supabaseCliPath(): string {
  const packageJsonPath = require.resolve('supabase/package.json');
  const packageJson = require(packageJsonPath) as { bin: Record<string, string> };
  const entry = packageJson.bin.supabase;
  if (entry === undefined) throw new Error(`The supabase package at ${packageJsonPath} has no "supabase" bin entry.`);
  return join(dirname(packageJsonPath), entry);
}

/** Adds sslmode=disable, because local clusters serve plain TCP only. */
export function withSslDisabled(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('sslmode', 'disable');
  return url.toString();
}

export interface SupabaseCliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the Supabase CLI from the repository root, with `--workdir` set to it. */
export function runSupabaseCli(args: string[]): Promise<SupabaseCliResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      [supabaseCliPath(), ...args, '--workdir', REPOSITORY_ROOT],
      { cwd: REPOSITORY_ROOT, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DO_NOT_TRACK: '1' } },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolvePromise({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
  });
}

/** Applies packages/local-stack/sql/bootstrap.sql; running it again changes nothing. */
export async function applyBootstrap(superuserUrl: string, logger: Logger): Promise<void> {
  const sql = postgres(superuserUrl, {
    max: 1,
    onnotice: (notice) => logger.debug({ notice: notice.message }, 'bootstrap notice'),
  });
  try {
    await sql.unsafe(await readFile(BOOTSTRAP_SQL_PATH, 'utf8')).simple();
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Applies the migrations in supabase/migrations with `supabase db push --remote=<url>` (the CLI 3.x spelling of --db-url); applied ones are skipped. */
export async function pushMigrations(superuserUrl: string, logger: Logger): Promise<void> {
  const result = await runSupabaseCli(['db', 'push', `--remote=${withSslDisabled(superuserUrl)}`, '--include-all', '--yes']);
  const output = `${result.stdout}${result.stderr}`.trim();
  if (result.code !== 0) {
    throw new Error(`supabase db push failed (exit code ${result.code}):\n${output}`);
  }
  logger.info({ output }, 'migrations applied with supabase db push');
}

/**
 * Makes a database ready for Parley: the Supabase compatibility bootstrap,
 * then the migrations through the real Supabase CLI. A second run is a no-op.
 */
export async function prepareDatabase(superuserUrl: string, options: { logger?: Logger } = {}): Promise<void> {
  const logger = options.logger ?? pino({ name: 'migrate', level: process.env.PARLEY_LOG_LEVEL ?? 'info' });
  await applyBootstrap(superuserUrl, logger);
  await pushMigrations(superuserUrl, logger);
}
