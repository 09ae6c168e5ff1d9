/**
 * `npm start`: runs the local stack until Ctrl-C or SIGTERM and prints its URLs and keys the way
 * `supabase status` does.
 *
 * Options (each also read from the environment variable in brackets):
 *   --port <n>         gateway port on 127.0.0.1, 0 for a free one (PORT; default 54321)
 *   --data-dir <path>  data folder (PARLEY_DATA_DIR; default .local/stack in the repository root)
 *   --binaries <kind>  embedded or system PostgreSQL binaries (PARLEY_PG_BINARIES; default embedded)
 *   --db-url <url>     use this existing database instead of a local cluster (DATABASE_URL)
 *   --functions-dir <path>  Edge Functions folder (PARLEY_FUNCTIONS_DIR; default supabase/functions)
 *   --log-level <lvl>  pino log level (LOG_LEVEL; default info)
 *   --web-demo-port <n>  port of the web demo, 0 for a free one, "off" to skip it
 *                        (PARLEY_WEB_DEMO_PORT; default 5173, or a free port with --port 0)
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PORT, startStack, type StackOptions } from './index.ts';

/** Port of the web demo served next to the stack, Vite's usual one. */
const DEFAULT_WEB_DEMO_PORT = 5173;

interface StartOptions {
  stack: StackOptions;
  /** Web demo port, or null when the demo is turned off. */
  webDemoPort: number | null;
}

interface WebDemo {
  url: string;
  close(): Promise<void>;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid port "${text}"; use an integer from 0 to 65535`);
  }
  return port;
}

function readOptions(): StartOptions {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      binaries: { type: 'string' },
      'db-url': { type: 'string' },
      'functions-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'web-demo-port': { type: 'string' },
    },
    strict: true,
  });

  const options: StackOptions = {};
  const port = values.port ?? process.env.PORT;
  options.port = port === undefined || port === '' ? DEFAULT_PORT : parsePort(port);

  const dataDir = values['data-dir'] ?? process.env.PARLEY_DATA_DIR;
  if (dataDir !== undefined && dataDir !== '') options.dataDir = dataDir;

  const binaries = values.binaries ?? process.env.PARLEY_PG_BINARIES;
  if (binaries !== undefined && binaries !== '') {
    if (binaries !== 'embedded' && binaries !== 'system') {
      throw new Error(`invalid --binaries "${binaries}"; use embedded or system`);
    }
    options.binaries = binaries;
  }

  const databaseUrl = values['db-url'] ?? process.env.DATABASE_URL;
  if (databaseUrl !== undefined && databaseUrl !== '') options.databaseUrl = databaseUrl;

  const functionsDir = values['functions-dir'] ?? process.env.PARLEY_FUNCTIONS_DIR;
  if (functionsDir !== undefined && functionsDir !== '') options.functionsDir = functionsDir;

  const logLevel = values['log-level'] ?? process.env.LOG_LEVEL;
  if (logLevel !== undefined && logLevel !== '') options.logLevel = logLevel;

  const webDemo = values['web-demo-port'] ?? process.env.PARLEY_WEB_DEMO_PORT;
  let webDemoPort: number | null = options.port === 0 ? 0 : DEFAULT_WEB_DEMO_PORT;
  if (webDemo === 'off') webDemoPort = null;
  else if (webDemo !== undefined && webDemo !== '') webDemoPort = parsePort(webDemo);

  return { stack: options, webDemoPort };
}

/**
 * Builds and serves the web demo against the running stack. A failure (for example a port in
 * use) is reported and leaves the stack running, because the demo is optional.
 */
async function startWebDemo(port: number, apiUrl: string, anonKey: string): Promise<WebDemo | null> {
  try {
    const { serveWebDemo } = (await import('@parley/web-demo')) as {
      serveWebDemo(options: { apiUrl: string; anonKey: string; port: number }): Promise<WebDemo>;
    };
    return await serveWebDemo({ apiUrl, anonKey, port });
  } catch (error) {
    console.error(
      `web demo not started: ${(error as Error).message}; pick another port with --web-demo-port <n> or turn it off with --web-demo-port off`,
    );
    return null;
  }
}

async function main(): Promise<void> {
  let options: StartOptions;
  try {
    options = readOptions();
  } catch (error) {
    console.error(`npm start: ${(error as Error).message}`);
    process.exit(2);
  }

  const stack = await startStack(options.stack);
  const demo = options.webDemoPort === null ? null : await startWebDemo(options.webDemoPort, stack.apiUrl, stack.anonKey);

  const rows: [string, string][] = [
    ['API URL', stack.apiUrl],
    ['REST URL', `${stack.apiUrl}/rest/v1`],
    ['Realtime URL', `${stack.apiUrl.replace(/^http/, 'ws')}/realtime/v1/websocket`],
    ['Functions URL', `${stack.apiUrl}/functions/v1`],
    ['JWKS URL', `${stack.apiUrl}/auth/v1/.well-known/jwks.json`],
    ['DB URL', stack.dbUrl],
    ['anon key', stack.anonKey],
    ['service_role key', stack.serviceRoleKey],
  ];
  if (demo !== null) {
    rows.push(['Web demo', `${demo.url}?device=alice (open ${demo.url}?device=bob in a second tab)`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(`\nParley local stack is running.\n\n${rows.map(([label, value]) => `${label.padStart(width)}: ${value}`).join('\n')}\n\nPress Ctrl-C to stop.\n`);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      console.error(`received ${signal} again; exiting without waiting for a clean shutdown`);
      process.exit(1);
    }
    const demoClosed = demo === null ? Promise.resolve() : demo.close().catch(() => undefined);
    demoClosed.then(() => stack.stop()).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`shutdown failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

main().catch((error: unknown) => {
  console.error(`npm start failed: ${(error as Error).message}`);
  process.exit(1);
});
