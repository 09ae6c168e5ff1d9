import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from './gateway/server.ts';
import { denoBinary } from './paths.ts';

/** How long a child may take to report that it listens. The first Deno start downloads npm packages. */
const GATEWAY_START_TIMEOUT_MS = 60_000;
const FUNCTIONS_START_TIMEOUT_MS = 180_000;

/** How long a child gets after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

/** Sends SIGTERM, then SIGKILL after STOP_TIMEOUT_MS, and waits for the exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Starts the gateway in a Node child process and resolves once it listens. */
export async function startGatewayProcess(config: GatewayConfig, logLevel: string): Promise<{ child: ChildProcess; port: number }> {
  const entry = fileURLToPath(new URL('./gateway-process.ts', import.meta.url));
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = fork(entry, [], {
    execArgv: ['--import', tsxLoader],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start within ${GATEWAY_START_TIMEOUT_MS} ms`));
    }, GATEWAY_START_TIMEOUT_MS);
    child.on('message', (message: { type: string; port?: number; message?: string }) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.port as number);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`gateway failed to start: ${message.message}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited during startup (code ${code}, signal ${signal})`));
    });
    child.send({ type: 'start', config, logLevel });
  });
  return { child, port };
}

export interface FunctionsRouterOptions {
  functionsDir: string;
  /** Port on 127.0.0.1; the supervisor fixes it so that a restarted router keeps the gateway's URL. */
  port: number;
  environment: Record<string, string>;
  logger: Logger;
}

/** Starts the Deno functions router and resolves with its URL once it listens. */
export async function startFunctionsRouter(options: FunctionsRouterOptions): Promise<{ child: ChildProcess; url: string }> {
  const router = fileURLToPath(new URL('../deno/router.ts', import.meta.url));
  const args = ['run', '--no-prompt', '--allow-net', '--allow-env', '--allow-read', '--allow-sys'];
  const config = join(options.functionsDir, 'deno.json');
  if (existsSync(config)) args.push('--config', config);
  args.push(router);

  const child = spawn(denoBinary(), args, {
    cwd: options.functionsDir,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...(process.env.DENO_DIR === undefined ? {} : { DENO_DIR: process.env.DENO_DIR }),
      NO_COLOR: '1',
      FUNCTIONS_DIR: options.functionsDir,
      FUNCTIONS_PORT: String(options.port),
      ...options.environment,
    },
  });

  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line.trim() !== '') options.logger.info({ source: 'deno' }, line.slice(0, 2000));
    }
  });

  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`functions router did not start within ${FUNCTIONS_START_TIMEOUT_MS} ms`));
    }, FUNCTIONS_START_TIMEOUT_MS);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      if (ready) {
        for (const line of text.split('\n')) if (line.trim() !== '') options.logger.info({ source: 'deno' }, line.slice(0, 2000));
        return;
      }
      buffered += text;
      const newline = buffered.indexOf('\n');
      if (newline === -1) return;
      try {
        const { port } = JSON.parse(buffered.slice(0, newline)) as { port: number };
        ready = true;
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port}`);
      } catch {
        options.logger.info({ source: 'deno' }, buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`functions router exited during startup (code ${code}, signal ${signal}); see the log above`));
    });
  });
  return { child, url };
}
