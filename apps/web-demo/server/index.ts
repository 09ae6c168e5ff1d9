/**
 * Serves the web demo next to a Supabase backend: builds the page with Vite
 * into a temporary folder and serves it with Vite's preview server, which
 * also serves `/config.json` with the API URL and anon key the page uses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build, preview, type Plugin } from 'vite';

/** Port `serveWebDemo` listens on by default, Vite's usual one. */
export const DEFAULT_WEB_DEMO_PORT = 5173;

/** Folder of the demo's index.html. */
export const WEB_DEMO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Options of {@link serveWebDemo}. */
export interface WebDemoOptions {
  /** Base URL of the Supabase API the page talks to, such as `http://127.0.0.1:54321`. */
  apiUrl: string;
  /** The project's anon key; it is public and sent to every browser. */
  anonKey: string;
  /** Port to listen on; 0 picks a free one. Default {@link DEFAULT_WEB_DEMO_PORT}. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
}

/** A running demo server. */
export interface WebDemoServer {
  /** Address to open in a browser, ending with `/`. */
  url: string;
  /** Stops the server and deletes the built files. */
  close(): Promise<void>;
}

/**
 * Builds the demo and serves it until `close` is called.
 *
 * @throws Error naming the value for an invalid `apiUrl`, `anonKey` or
 *   `port`, or when the port is in use.
 */
export async function serveWebDemo(options: WebDemoOptions): Promise<WebDemoServer> {
  const apiUrl = checkApiUrl(options.apiUrl);
  if (typeof options.anonKey !== 'string' || options.anonKey.trim() === '') {
    throw new Error('invalid anonKey: pass the anon key of the Supabase project (npm start prints it)');
  }
  const port = options.port ?? DEFAULT_WEB_DEMO_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid web demo port ${String(port)}: use an integer from 0 to 65535`);
  }
  const host = options.host ?? '127.0.0.1';

  const outDir = await mkdtemp(join(tmpdir(), 'parley-web-demo-'));
  try {
    await build({
      root: WEB_DEMO_ROOT,
      configFile: false,
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2048 },
    });

    const server = await preview({
      root: WEB_DEMO_ROOT,
      configFile: false,
      logLevel: 'warn',
      build: { outDir },
      preview: { host, port, strictPort: true, open: false },
      plugins: [runtimeConfig({ supabaseUrl: apiUrl, anonKey: options.anonKey })],
    });

    const address = server.httpServer.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`;
    let closed: Promise<void> | undefined;
    return {
      url,
      close() {
        closed ??= server.close().finally(() => rm(outDir, { recursive: true, force: true }));
        return closed;
      },
    };
  } catch (error) {
    await rm(outDir, { recursive: true, force: true });
    throw error;
  }
}

/** The page's runtime settings, served as `/config.json`. */
export interface RuntimeConfig {
  supabaseUrl: string;
  anonKey: string;
}

function runtimeConfig(config: RuntimeConfig): Plugin {
  const body = JSON.stringify(config);
  return {
    name: 'parley-runtime-config',
    configurePreviewServer(server) {
      server.middlewares.use('/config.json', (_request, response) => {
        response.setHeader('Content-Type', 'application/json');
        response.setHeader('Cache-Control', 'no-store');
        response.end(body);
      });
    },
  };
}

function checkApiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`invalid apiUrl ${JSON.stringify(value)}: pass the API URL, such as http://127.0.0.1:54321`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid apiUrl ${JSON.stringify(value)}: use an http or https URL`);
  }
  return url.href.replace(/\/+$/, '');
}
