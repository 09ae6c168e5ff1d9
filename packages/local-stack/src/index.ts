import type { ChildProcess } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { startFunctionsRouter, startGatewayProcess, stopChild } from './children.ts';
import { discoverFunctions } from './functions-config.ts';
import type { GatewayConfig } from './gateway/server.ts';
import { loadOrCreateKeys } from './keys.ts';
import { StackLock } from './lock.ts';
import { createLogger, redactUrl } from './logger.ts';
import { prepareDatabase } from './migrate.ts';
import { defaultDataDir, repositoryRoot } from './paths.ts';
import { startCluster, type Cluster } from './postgres/cluster.ts';
import { DEFAULT_PURGE_INTERVAL_MS, schedulePurge } from './purge.ts';

export { startCluster } from './postgres/cluster.ts';
export { prepareDatabase } from './migrate.ts';

export interface StackOptions {
  /** Data folder for PostgreSQL, keys and the lock; default `.local/stack` in the repository root. */
  dataDir?: string;
  /** Gateway port on 127.0.0.1; 0 picks a free port; default 54321 as `supabase start`. */
  port?: number;
  /** PostgreSQL binaries when no databaseUrl is given; default embedded. */
  binaries?: 'embedded' | 'system';
  /** An existing database (superuser URL) instead of a cluster in the data folder. */
  databaseUrl?: string;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel?: string;
  /** Folder of the Edge Functions; default `supabase/functions` in the repository root. */
  functionsDir?: string;
  /** Interval of the scheduled purge when the database has no pg_cron, in milliseconds. */
  purgeIntervalMs?: number;
}

export interface Stack {
  apiUrl: string;
  dbUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  /** Process id of the current gateway child, for lifecycle tests. */
  gatewayPid(): number | undefined;
  /** Process id of the Deno functions router, or undefined without functions. */
  functionsPid(): number | undefined;
  /** Stops the gateway process and starts a new one on the same port. */
  restartGateway(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_PORT = 54321;
const HOST = '127.0.0.1';

/** Restarts of a crashed child allowed within RESTART_WINDOW_MS before the supervisor gives up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** Records a crash and returns true when there were more than MAX_RESTARTS within RESTART_WINDOW_MS. */
function tooManyRecentCrashes(crashes: number[]): boolean {
  const now = Date.now();
  crashes.push(now);
  while (crashes.length > 0 && (crashes[0] as number) < now - RESTART_WINDOW_MS) crashes.shift();
  return crashes.length > MAX_RESTARTS;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function databaseHasPgCron(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    const [row] = await sql<{ installed: boolean }[]>`select exists (select 1 from pg_extension where extname = 'pg_cron') as installed`;
    return row?.installed === true;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * Starts PostgreSQL (or uses `databaseUrl`), applies the bootstrap and migrations, starts the
 * Deno functions router and the gateway, and schedules the purge when pg_cron is absent.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const logLevel = options.logLevel ?? process.env.LOG_LEVEL ?? 'info';
  const logger = createLogger(logLevel);
  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  const functionsDir = resolve(options.functionsDir ?? join(repositoryRoot(), 'supabase', 'functions'));
  const lock = await StackLock.acquire(dataDir, logger);
  // Under root PostgreSQL runs as the OS user postgres, which must reach the cluster folder inside.
  if (process.getuid?.() === 0) await chmod(dataDir, 0o755);

  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
    cleanups.length = 0;
    await lock.release();
  };

  try {
    let cluster: Cluster | undefined;
    let dbUrl = options.databaseUrl;
    if (dbUrl === undefined) {
      cluster = await startCluster({
        dataDir: join(dataDir, 'postgres'),
        ...(options.binaries === undefined ? {} : { binaries: options.binaries }),
        logger: logger.child({ component: 'postgres' }),
      });
      cleanups.push(() => (cluster as Cluster).stop());
      dbUrl = cluster.superuserUrl;
    } else {
      logger.info({ databaseUrl: redactUrl(dbUrl) }, 'using the database from DATABASE_URL');
    }

    await prepareDatabase(dbUrl, { logger: logger.child({ component: 'migrate' }) });

    const { keys, created } = await loadOrCreateKeys(join(dataDir, 'keys.json'));
    if (created) logger.info({ kid: keys.kid }, 'generated a new signing key and API keys');

    const port = options.port === 0 ? await freePort() : (options.port ?? DEFAULT_PORT);
    const apiUrl = `http://${HOST}:${port}`;

    const functions = await discoverFunctions(functionsDir, join(functionsDir, '..', 'config.toml'));
    let functionsChild: ChildProcess | undefined;
    let functionsRouterUrl: string | undefined;
    let stopping = false;
    if (functions.length > 0) {
      const functionsPort = await freePort();
      const functionsLogger = logger.child({ component: 'functions' });
      const recentRouterCrashes: number[] = [];
      const launchRouter = async () => {
        const router = await startFunctionsRouter({
          functionsDir,
          port: functionsPort,
          logger: functionsLogger,
          environment: {
            SUPABASE_URL: apiUrl,
            SUPABASE_ANON_KEY: keys.anonKey,
            SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
            SUPABASE_DB_URL: dbUrl,
            SUPABASE_JWKS: JSON.stringify({ keys: [keys.publicJwk] }),
            LOG_LEVEL: logLevel,
          },
        });
        functionsChild = router.child;
        functionsRouterUrl = router.url;
        await lock.addChild('functions', router.child.pid as number);
        router.child.once('exit', (code, signal) => {
          if (stopping || functionsChild !== router.child) return;
          if (tooManyRecentCrashes(recentRouterCrashes)) {
            logger.fatal({ code, signal }, 'functions router exited too often within a minute; not restarting it');
            return;
          }
          // A terminal's Ctrl-C signals the whole process group, so the router can exit just before
          // stop() runs. The decision waits a moment so a shutdown is not reported as a crash.
          setTimeout(() => {
            if (stopping) return;
            logger.error({ code, signal, pid: router.child.pid }, 'functions router exited unexpectedly; restarting it');
            launchRouter().catch((error: unknown) => logger.error({ err: error }, 'functions router restart failed'));
          }, 300).unref();
        });
        logger.info({ functions: functions.map((definition) => definition.name), pid: router.child.pid }, 'functions router started');
      };
      await launchRouter();
      cleanups.push(async () => {
        stopping = true;
        if (functionsChild !== undefined) await stopChild(functionsChild);
      });
    }

    const gatewayConfig: GatewayConfig = {
      host: HOST,
      port,
      databaseUrl: dbUrl,
      keys: { version: 1, privateJwk: keys.privateJwk, anonKey: keys.anonKey, serviceRoleKey: keys.serviceRoleKey },
      functions,
      functionsRouterUrl,
      apiUrl,
    };

    let gatewayChild: ChildProcess | undefined;
    let restarting = false;
    const recentCrashes: number[] = [];

    const launchGateway = async () => {
      const { child } = await startGatewayProcess(gatewayConfig, logLevel);
      gatewayChild = child;
      await lock.addChild('gateway', child.pid as number);
      child.once('exit', (code, signal) => {
        if (stopping || restarting || gatewayChild !== child) return;
        if (tooManyRecentCrashes(recentCrashes)) {
          logger.fatal({ code, signal }, 'gateway exited too often within a minute; not restarting it');
          return;
        }
        // Waits like the router above, so Ctrl-C in a terminal is not reported as a crash.
        setTimeout(() => {
          if (stopping) return;
          logger.error({ code, signal, pid: child.pid }, 'gateway exited unexpectedly; restarting it');
          launchGateway().catch((error: unknown) => logger.error({ err: error }, 'gateway restart failed'));
        }, 300).unref();
      });
    };
    await launchGateway();
    cleanups.push(async () => {
      stopping = true;
      if (gatewayChild !== undefined) await stopChild(gatewayChild);
    });

    const hasPgCron = await databaseHasPgCron(dbUrl);
    if (!hasPgCron) {
      const purgeSql = postgres(dbUrl, { max: 1, onnotice: () => undefined, connection: { application_name: 'parley-purge' } });
      const purge = schedulePurge(purgeSql, logger.child({ component: 'purge' }), options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS);
      cleanups.push(async () => {
        await purge.stop();
        await purgeSql.end({ timeout: 2 });
      });
      logger.info({ intervalMs: options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS }, 'pg_cron is not installed; the stack runs the purge itself');
    }

    logger.info({ apiUrl }, 'local stack started');

    let stopped: Promise<void> | undefined;
    return {
      apiUrl,
      dbUrl,
      anonKey: keys.anonKey,
      serviceRoleKey: keys.serviceRoleKey,
      gatewayPid: () => gatewayChild?.pid,
      functionsPid: () => functionsChild?.pid,
      async restartGateway() {
        restarting = true;
        try {
          if (gatewayChild !== undefined) await stopChild(gatewayChild);
          await launchGateway();
        } finally {
          restarting = false;
        }
        logger.info({ pid: gatewayChild?.pid }, 'gateway restarted');
      },
      stop() {
        stopped ??= (async () => {
          stopping = true;
          await runCleanups();
          logger.info('local stack stopped');
        })();
        return stopped;
      },
    };
  } catch (error) {
    await runCleanups();
    throw error;
  }
}
