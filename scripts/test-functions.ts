// Runs the Edge Function tests (supabase/functions/tests) with Deno against a
// real, throwaway PostgreSQL cluster. It starts the cluster, applies the
// bootstrap and migrations, serves a JWKS on a local port and runs
// `deno test`. Everything stops again, also when a test fails or the run is
// interrupted.
//
// Environment: PARLEY_PG_BINARIES=system selects system PostgreSQL binaries
// (see packages/local-stack/src/postgres/binaries.ts); extra arguments are
// passed to `deno test` (for example `--filter "bundle"`).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { pino } from 'pino';

import { type Cluster, startCluster } from '../packages/local-stack/src/postgres/cluster.ts';
import { prepareDatabase, withSslDisabled } from '../packages/local-stack/src/migrate.ts';

const REPOSITORY_ROOT = fileURLToPath(new URL('../', import.meta.url));
const FUNCTIONS_DIR = join(REPOSITORY_ROOT, 'supabase', 'functions');
const DENO = join(REPOSITORY_ROOT, 'node_modules', '.bin', 'deno');
const JWKS_PATH = '/auth/v1/.well-known/jwks.json';
const SIGNING_KEY_ID = 'parley-functions-test';

const logger = pino({ name: 'test-functions', level: process.env.PARLEY_LOG_LEVEL ?? 'info' });

interface Resources {
  dataDir?: string;
  cluster?: Cluster;
  jwksServer?: Server;
  deno?: ChildProcess;
}

const resources: Resources = {};
let stopping: Promise<void> | undefined;

/** Stops whatever was started, in reverse order; safe to call more than once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    if (resources.deno !== undefined && resources.deno.exitCode === null && resources.deno.pid !== undefined) {
      resources.deno.kill('SIGTERM');
    }
    if (resources.jwksServer !== undefined) {
      const server = resources.jwksServer;
      await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
      server.closeAllConnections();
    }
    if (resources.cluster !== undefined) {
      await resources.cluster.stop();
    }
    if (resources.dataDir !== undefined) {
      await rm(resources.dataDir, { recursive: true, force: true });
    }
  })();
  return stopping;
}

/** Serves the public key set where the functions look for it: `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`. */
async function serveJwks(jwks: unknown): Promise<{ server: Server; url: string }> {
  const body = JSON.stringify(jwks);
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === JWKS_PATH) {
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      return;
    }
    response.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not found"}');
  });

  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolvePromise());
  });

  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('the JWKS server has no TCP address');
  }
  return { server, url: `http://127.0.0.1:${address.port}` };
}

/** Runs a Deno command in supabase/functions with inherited output and returns its exit code. */
function runDeno(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(DENO, args, { cwd: FUNCTIONS_DIR, env, stdio: ['ignore', 'inherit', 'inherit'] });
    resources.deno = child;
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise(code ?? (signal === null ? 1 : 128)));
  });
}

/** Runs `deno lint` and `deno check` on every function entry point, so the deployed files are checked too. */
async function lintAndCheck(env: NodeJS.ProcessEnv): Promise<boolean> {
  const config = join(FUNCTIONS_DIR, 'deno.json');
  const entryPoints = ['prekey-bundle', 'acknowledge-topics', 'publish-keys'].map((name) => join(FUNCTIONS_DIR, name, 'index.ts'));

  if ((await runDeno(['lint', '--config', config], env)) !== 0) {
    logger.error('deno lint found problems in supabase/functions');
    return false;
  }
  if ((await runDeno(['check', '--config', config, ...entryPoints], env)) !== 0) {
    logger.error('deno check failed for the function entry points');
    return false;
  }
  return true;
}

/** Runs `deno test`, echoing its output, and returns its exit code and the last summary line. */
function runDenoTests(env: NodeJS.ProcessEnv, extraArgs: string[]): Promise<{ code: number; summary?: string }> {
  const args = [
    'test',
    '--config',
    join(FUNCTIONS_DIR, 'deno.json'),
    '--allow-net=127.0.0.1',
    '--allow-env',
    '--allow-read',
    '--allow-sys=hostname',
    ...extraArgs,
    join(FUNCTIONS_DIR, 'tests'),
  ];

  return new Promise((resolvePromise, reject) => {
    const child = spawn(DENO, args, { cwd: FUNCTIONS_DIR, env, stdio: ['ignore', 'pipe', 'inherit'] });
    resources.deno = child;
    let summary: string | undefined;
    let pending = '';

    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // Deno's closing line: "ok | 52 passed | 0 failed (3s)", with colour codes.
        const plain = line.replace(/\u001b\[[0-9;]*m/g, '');
        if (/\d+ passed \| \d+ failed/.test(plain)) summary = plain;
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal === null ? 1 : 128), summary }));
  });
}

async function main(): Promise<number> {
  const extraArgs = process.argv.slice(2);
  const denoEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: process.env.NO_COLOR ?? (process.stdout.isTTY ? undefined : '1') };

  if (!(await lintAndCheck(denoEnv))) {
    console.log('functions: deno lint or deno check failed, so no tests ran');
    return 1;
  }

  resources.dataDir = await mkdtemp(join(tmpdir(), 'parley-functions-test-'));
  // Run as root, the cluster runs as a separate OS user, which must be able to reach its data directory.
  await chmod(resources.dataDir, 0o755);
  resources.cluster = await startCluster({
    dataDir: join(resources.dataDir, 'pgdata'),
    logger,
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
  });
  const databaseUrl = withSslDisabled(resources.cluster.superuserUrl);
  await prepareDatabase(databaseUrl, { logger });

  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: SIGNING_KEY_ID, alg: 'ES256', use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid: SIGNING_KEY_ID, alg: 'ES256' };
  const jwks = await serveJwks({ keys: [publicJwk] });
  resources.jwksServer = jwks.server;

  const env: NodeJS.ProcessEnv = {
    ...denoEnv,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SUPABASE_URL: jwks.url,
    SUPABASE_DB_URL: databaseUrl,
    SUPABASE_JWT_SECRET: randomBytes(32).toString('base64url'),
    PARLEY_TEST_SIGNING_JWK: JSON.stringify(privateJwk),
    PARLEY_TEST_SUPERUSER_URL: databaseUrl,
  };
  delete env.SUPABASE_JWKS;

  logger.info({ supabaseUrl: jwks.url }, 'running the Edge Function tests');
  const result = await runDenoTests(env, extraArgs);

  const counts = /(\d+) passed \| (\d+) failed/.exec(result.summary ?? '');
  if (counts !== null) {
    console.log(`functions: ${counts[1]} passed, ${counts[2]} failed`);
  } else {
    console.log('functions: no test summary from deno test');
  }
  return result.code;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.warn({ signal }, 'interrupted; stopping the cluster and the tests');
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  logger.error({ err: error }, 'the Edge Function tests could not run');
} finally {
  await stopAll();
}
process.exit(exitCode);
