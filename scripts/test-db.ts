// Runs the database test suite on a throwaway PostgreSQL cluster:
//
//   npm run test:db [-- [--concurrency-runs N] [--tests-dir DIR] [--lint] [FILE_FILTER...]]
//
// It starts a cluster on a free port (embedded PostgreSQL 17 by default,
// PARLEY_PG_BINARIES=system for the system's PostgreSQL 15), applies the
// Supabase bootstrap and the migrations with the Supabase CLI, runs every
// pgTAP file in supabase/tests/database over a Node client, then the Node
// checks in supabase/tests/concurrency (inbox NOTIFY, claim concurrency).
// With --lint it first runs `supabase db lint --fail-on error` on the
// migrated database, which needs the plpgsql_check extension (Debian:
// postgresql-15-plpgsql-check, so use it with PARLEY_PG_BINARIES=system).
// The cluster and its data directory are removed at the end, also after a
// failure or Ctrl-C.
//
// The run fails on any `not ok`, a plan mismatch, an SQL error, a file with
// no tests, a failed Node check, or a lint error.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import postgres from 'postgres';
import { Parser, type FinalResults } from 'tap-parser';
import { type Cluster, startCluster } from '../packages/local-stack/src/postgres/cluster.ts';
import { prepareDatabase, runSupabaseCli, withSslDisabled } from '../packages/local-stack/src/migrate.ts';
import { runClaimConcurrencyTest, type ConcurrencyCheck } from '../supabase/tests/concurrency/claim-prekeys.ts';
import { runInboxNotifyTest } from '../supabase/tests/concurrency/inbox-notify.ts';

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PGTAP_DIR = join(REPOSITORY_ROOT, 'supabase', 'tests', 'database');
/** Upper bound for one pgTAP file, so a lock wait cannot hang the run. */
const FILE_STATEMENT_TIMEOUT_MS = 300_000;

interface Options {
  concurrencyRuns: number;
  testsDir: string;
  lint: boolean;
  fileFilters: string[];
}

interface FileOutcome {
  file: string;
  ok: boolean;
  assertions: number;
  skipped: Array<{ name: string; reason: string }>;
  problems: string[];
}

function parseArguments(argv: string[]): Options {
  let concurrencyRuns = Number.parseInt(process.env.PARLEY_CLAIM_RUNS ?? '1', 10);
  let testsDir = PGTAP_DIR;
  let lint = false;
  const fileFilters: string[] = [];

  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === '--concurrency-runs') {
      concurrencyRuns = Number.parseInt(argv[index + 1] ?? '', 10);
      index += 1;
    } else if (argument === '--lint') {
      lint = true;
    } else if (argument === '--tests-dir') {
      testsDir = resolve(argv[index + 1] ?? '');
      index += 1;
    } else if (argument.startsWith('--')) {
      throw new Error(`Unknown option ${argument}: use --concurrency-runs N, --tests-dir DIR, --lint and optional file name filters.`);
    } else {
      fileFilters.push(argument);
    }
  }

  if (!Number.isInteger(concurrencyRuns) || concurrencyRuns < 0) {
    throw new Error(`Invalid concurrency run count ${String(concurrencyRuns)}: use an integer of 0 or more.`);
  }
  return { concurrencyRuns, testsDir, lint, fileFilters };
}

/** Inlines `\ir FILE` lines (psql's include relative to the current file), as pg_prove would run them. */
async function readWithIncludes(path: string, seen: Set<string> = new Set()): Promise<string> {
  if (seen.has(path)) throw new Error(`${path} includes itself through \\ir.`);
  seen.add(path);

  const lines = (await readFile(path, 'utf8')).split('\n');
  const output: string[] = [];
  for (const line of lines) {
    const include = /^\s*\\ir\s+(\S+)\s*$/.exec(line);
    if (include?.[1] === undefined) {
      if (/^\s*\\/.test(line)) throw new Error(`${path}: psql meta-command "${line.trim()}" is not supported; only \\ir is.`);
      output.push(line);
      continue;
    }
    output.push(await readWithIncludes(resolve(dirname(path), include[1]), seen));
  }
  return output.join('\n');
}

/** Keeps the TAP lines of the query output; other selected values (set_config results, void) are dropped. */
function tapLines(results: unknown[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    if (!Array.isArray(result)) continue;
    for (const row of result as Array<Record<string, unknown>>) {
      const values = Object.values(row);
      if (values.length !== 1 || typeof values[0] !== 'string') continue;
      for (const line of values[0].split('\n')) {
        if (/^(ok\b|not ok\b|1\.\.\d+|#|Bail out!)/.test(line)) lines.push(line);
      }
    }
  }
  return lines;
}

function lineOfPosition(text: string, position: number): number {
  return text.slice(0, Math.max(0, position - 1)).split('\n').length;
}

async function parseTap(lines: string[]): Promise<FinalResults> {
  return new Promise((resolvePromise) => {
    const parser = new Parser((results) => resolvePromise(results));
    parser.end(`${lines.join('\n')}\n`);
  });
}

async function runPgTapFile(databaseUrl: string, path: string): Promise<FileOutcome> {
  const file = relative(REPOSITORY_ROOT, path);
  const text = await readWithIncludes(path);
  const sql = postgres(databaseUrl, {
    max: 1,
    onnotice: () => undefined,
    connection: { statement_timeout: FILE_STATEMENT_TIMEOUT_MS, application_name: 'parley-test-db' },
  });

  let lines: string[] = [];
  const problems: string[] = [];
  try {
    lines = tapLines((await sql.unsafe(text).simple()) as unknown[]);
  } catch (error) {
    const fields = error as { message?: string; code?: string; position?: string; where?: string };
    const at = fields.position === undefined ? '' : ` near line ${lineOfPosition(text, Number(fields.position))}`;
    problems.push(`SQL error${at}: ${fields.code ?? ''} ${fields.message ?? String(error)}${fields.where ? `\n  ${fields.where}` : ''}`);
  } finally {
    await sql.end({ timeout: 5 });
  }

  const results = await parseTap(lines);
  for (const failure of results.failures) {
    // A failed assertion is a Result with an id and a name; parser errors (such as a plan mismatch) carry only `tapError`.
    const { tapError, id, name } = failure as { tapError?: string | null; id?: number; name?: string };
    problems.push(tapError ? tapError : `not ok ${id} - ${name}`);
  }
  // pgTAP's diagnostics (`# ...` lines) explain the failures above them.
  if (problems.length > 0) {
    const diagnostics = lines.filter((line) => line.startsWith('#'));
    problems.push(...diagnostics.map((line) => `  ${line}`));
  }
  if (results.count === 0) problems.push('no tests ran');
  if (results.plan.end !== null && results.plan.end !== results.count) {
    problems.push(`planned ${results.plan.end} tests but ran ${results.count}`);
  }

  return {
    file,
    ok: problems.length === 0 && results.ok,
    assertions: results.count,
    skipped: results.skips.map((skip) => ({ name: skip.name, reason: String(skip.skip) })),
    problems,
  };
}

async function listPgTapFiles(testsDir: string, filters: string[]): Promise<string[]> {
  const names = (await readdir(testsDir)).filter((name) => name.endsWith('.sql')).sort();
  const selected = filters.length === 0 ? names : names.filter((name) => filters.some((filter) => name.includes(filter)));
  return selected.map((name) => join(testsDir, name));
}

async function installPgTap(cluster: Cluster): Promise<void> {
  const sql = postgres(cluster.superuserUrl, { max: 1, onnotice: () => undefined });
  try {
    await sql`create extension if not exists pgtap with schema extensions`;
  } catch (error) {
    throw new Error(
      `Creating the pgtap extension failed (${String(error)}): with PARLEY_PG_BINARIES=system, install postgresql-15-pgtap.`,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs `supabase db lint` on the public and private schemas; returns whether it found no errors. */
async function lintDatabase(cluster: Cluster): Promise<boolean> {
  const result = await runSupabaseCli([
    'db',
    'lint',
    `--remote=${withSslDisabled(cluster.superuserUrl)}`,
    '--schema',
    'public,private',
    '--level',
    'warning',
    '--fail-on',
    'error',
  ]);
  const output = `${result.stdout}${result.stderr}`.trim();
  console.log(`${result.code === 0 ? 'ok    ' : 'FAILED'} supabase db lint --fail-on error`);
  if (output !== '') console.log(output.replace(/^/gm, '         '));
  return result.code === 0;
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  const logger = pino({ name: 'test-db', level: process.env.PARLEY_LOG_LEVEL ?? 'warn' });
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-test-db-'));
  let cluster: Cluster | undefined;
  let cleanedUp = false;

  const cleanUp = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    await cluster?.stop().catch((error: unknown) => logger.error({ err: error }, 'stopping PostgreSQL failed'));
    await rm(dataDir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal} received: stopping PostgreSQL and removing ${dataDir}`);
      void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }

  try {
    cluster = await startCluster({
      dataDir,
      port: 0,
      logger,
      // A throwaway cluster needs no crash safety.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    });
    console.log(`PostgreSQL (${cluster.binaries}) on port ${cluster.port}${cluster.hasPgCron ? ' with pg_cron' : ', without pg_cron'}`);

    await prepareDatabase(cluster.superuserUrl, { logger });
    const lintPassed = options.lint ? await lintDatabase(cluster) : true;
    await installPgTap(cluster);

    const outcomes: FileOutcome[] = [];
    for (const path of await listPgTapFiles(options.testsDir, options.fileFilters)) {
      const outcome = await runPgTapFile(cluster.superuserUrl, path);
      outcomes.push(outcome);
      console.log(`${outcome.ok ? 'ok    ' : 'FAILED'} ${outcome.file} (${outcome.assertions} assertions${outcome.skipped.length > 0 ? `, ${outcome.skipped.length} skipped` : ''})`);
      const skipReasons = new Map<string, number>();
      for (const skip of outcome.skipped) skipReasons.set(skip.reason, (skipReasons.get(skip.reason) ?? 0) + 1);
      for (const [reason, count] of skipReasons) console.log(`         skipped ${count}: ${reason}`);
      for (const problem of outcome.problems) console.log(`         ${problem}`);
    }

    const notifyChecks = await runInboxNotifyTest(cluster.superuserUrl);
    const failedNotifyChecks = notifyChecks.filter((check) => !check.ok);
    console.log(`${failedNotifyChecks.length === 0 ? 'ok    ' : 'FAILED'} inbox NOTIFY for the local stack (${notifyChecks.length} checks)`);
    for (const check of failedNotifyChecks) console.log(`         not ok: ${check.name}: ${check.detail}`);

    const concurrencyChecks: ConcurrencyCheck[] = [];
    for (let run = 1; run <= options.concurrencyRuns; run += 1) {
      const checks = await runClaimConcurrencyTest(cluster.superuserUrl, { runLabel: `run${run}` });
      concurrencyChecks.push(...checks);
      const failed = checks.filter((check) => !check.ok);
      console.log(`${failed.length === 0 ? 'ok    ' : 'FAILED'} claim concurrency run ${run}/${options.concurrencyRuns} (${checks.length} checks)`);
      for (const check of failed) console.log(`         not ok: ${check.name}: ${check.detail}`);
    }

    const assertions = outcomes.reduce((sum, outcome) => sum + outcome.assertions, 0);
    const skipped = outcomes.reduce((sum, outcome) => sum + outcome.skipped.length, 0);
    const failedFiles = outcomes.filter((outcome) => !outcome.ok).length;
    const failedChecks = concurrencyChecks.filter((check) => !check.ok).length + failedNotifyChecks.length;
    const noFiles = outcomes.length === 0;

    console.log(
      `\npgTAP: ${outcomes.length} files, ${assertions} assertions, ${skipped} skipped, ${failedFiles} files failed` +
        `\nNode checks: inbox NOTIFY ${notifyChecks.length} checks, claim concurrency ${options.concurrencyRuns} runs with ` +
        `${concurrencyChecks.length} checks, ${failedChecks} failed`,
    );
    if (noFiles) console.log('No pgTAP files matched, which counts as a failure.');

    return failedFiles === 0 && failedChecks === 0 && !noFiles && lintPassed ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
