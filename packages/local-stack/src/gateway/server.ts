import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import postgres, { type Sql } from 'postgres';
import { ensureAuthSessionTables } from '../auth-schema.ts';
import type { FunctionDefinition } from '../functions-config.ts';
import { importKeys, type StoredKeys } from '../keys.ts';
import { handleAuth } from './auth.ts';
import { handleFunction } from './functions.ts';
import { BodyTooLargeError, CORS_HEADERS, headerValue, sendJson } from './http.ts';
import { RealtimeServer } from './realtime.ts';
import { handleRest, sendRestError, type Caller } from './rest/handler.ts';
import { RestError } from './rest/errors.ts';
import { SchemaCache } from './rest/schema-cache.ts';
import { bearerToken, TokenVerifier } from './tokens.ts';

export interface GatewayConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Superuser connection URL; every API request switches to the token's role inside its transaction. */
  databaseUrl: string;
  keys: StoredKeys;
  functions: FunctionDefinition[];
  functionsRouterUrl: string | undefined;
  /** Public URL of the gateway, used as token issuer; derived from host and port when absent. */
  apiUrl?: string;
}

export interface Gateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Connections per pool; REST requests hold one for a single pipelined round trip. */
const POOL_SIZE = 10;

/** Auth endpoints reachable without an API key, as behind Supabase's API gateway. */
const OPEN_AUTH_PATHS = new Set(['/.well-known/jwks.json', '/health']);

/** Starts the gateway: `/auth/v1`, `/rest/v1`, `/realtime/v1/websocket` and `/functions/v1` on one port. */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<Gateway> {
  const keys = await importKeys(config.keys);
  const verifier = new TokenVerifier(keys);
  const apiKeys = new Set([keys.anonKey, keys.serviceRoleKey]);

  // Prepared statements let postgres.js pipeline BEGIN, the settings, the statement and COMMIT
  // in one round trip, because unprepared statements with parameters need a describe round trip each.
  // Every REST statement returns the same two columns (body text, row_count), so a table change
  // never invalidates a cached plan's result type. Connections are recycled to bound the cache.
  const sql = postgres(config.databaseUrl, {
    max: POOL_SIZE,
    prepare: true,
    max_lifetime: 10 * 60,
    idle_timeout: 60,
    connect_timeout: 10,
    onnotice: () => undefined,
    connection: { application_name: 'parley-gateway' },
  });
  passStringsAsText(sql);
  const listenSql = postgres(config.databaseUrl, { max: 1, onnotice: () => undefined, connection: { application_name: 'parley-gateway-listen' } });

  await ensureAuthSessionTables(sql);
  const cache = new SchemaCache(sql);
  await cache.reload();
  await listenSql.listen('pgrst', (payload) => {
    if (payload === 'reload schema' || payload === '') {
      cache.reload().then(
        () => logger.info('schema cache reloaded'),
        (error: unknown) => logger.error({ err: error }, 'schema cache reload failed'),
      );
    }
  });

  const realtime = new RealtimeServer({ sql, listenSql, verifier, logger, isApiKey: (key) => apiKeys.has(key) });
  await realtime.start();

  const functions = new Map(config.functions.map((definition) => [definition.name, definition]));
  let apiUrl = config.apiUrl ?? '';

  const server = createServer((request, response) => {
    const requestId = randomRequestId(request);
    response.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    response.on('finish', () => {
      logger.debug(
        { requestId, method: request.method, path: request.url?.split('?')[0], status: response.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 },
        'request',
      );
    });

    route(request, response, requestId).catch((error: unknown) => {
      if (error instanceof BodyTooLargeError) {
        sendJson(response, 413, { code: 'PGRST413', details: null, hint: 'Send a smaller body', message: error.message });
        return;
      }
      logger.error({ err: error, requestId }, 'request failed');
      sendJson(response, 500, { message: 'internal error in the local gateway', requestId });
    });
  });

  async function route(request: IncomingMessage, response: ServerResponse, requestId: string): Promise<void> {
    const url = parseUrl(request.url);
    if (url === undefined) {
      sendJson(response, 400, { message: 'request URL is malformed' });
      return;
    }
    const path = url.pathname;

    if (path.startsWith('/functions/v1/')) {
      await handleFunction({ functions, routerUrl: config.functionsRouterUrl, verifier, logger: logger.child({ requestId }) }, request, response, path.slice('/functions/v1'.length), url.search, requestId);
      return;
    }

    if (request.method === 'OPTIONS') {
      response.writeHead(200, CORS_HEADERS);
      response.end();
      return;
    }

    if (path.startsWith('/auth/v1/')) {
      const subpath = path.slice('/auth/v1'.length);
      if (!OPEN_AUTH_PATHS.has(subpath) && !checkApiKey(request, response, url.searchParams)) return;
      await handleAuth({ sql, keys, verifier, logger: logger.child({ requestId }), apiUrl }, request, response, subpath, url.searchParams);
      return;
    }

    if (path === '/rest/v1' || path.startsWith('/rest/v1/')) {
      if (!checkApiKey(request, response, url.searchParams)) return;
      const caller = await restCaller(request, url.searchParams, response);
      if (caller === undefined) return;
      await handleRest({ sql, cache, logger: logger.child({ requestId }) }, request, response, path.slice('/rest/v1'.length), url.searchParams, caller);
      return;
    }

    if (path === '/health') {
      sendJson(response, 200, { status: 'ok', realtimeConnections: realtime.connectionCount });
      return;
    }

    sendJson(response, 404, { message: 'no Route matched with those values' });
  }

  function checkApiKey(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): boolean {
    const apikey = headerValue(request, 'apikey') ?? query.get('apikey') ?? undefined;
    if (apikey === undefined || apikey === '') {
      sendJson(response, 401, { message: 'No API key found in request', hint: 'No `apikey` request header or url param was found.' });
      return false;
    }
    if (!apiKeys.has(apikey)) {
      sendJson(response, 401, { message: 'Invalid API key', hint: 'Double check your Supabase `anon` or `service_role` API key.' });
      return false;
    }
    return true;
  }

  async function restCaller(request: IncomingMessage, query: URLSearchParams, response: ServerResponse): Promise<Caller | undefined> {
    const header = headerValue(request, 'authorization');
    const token = header === undefined ? (headerValue(request, 'apikey') ?? query.get('apikey') ?? '') : bearerToken(header);
    if (token === undefined) {
      sendRestError(logger, response, new RestError(401, 'PGRST301', 'Authorization header is not "Bearer <token>"', null, 'Send Authorization: Bearer <access token>'), undefined);
      return undefined;
    }
    const verified = await verifier.verify(token);
    if (!verified.ok) {
      const code = verified.reason === 'expired' ? 'PGRST303' : 'PGRST301';
      response.setHeader('WWW-Authenticate', `Bearer error="invalid_token", error_description="${verified.message}"`);
      sendRestError(logger, response, new RestError(401, code, verified.message, null, verified.reason === 'expired' ? 'Refresh the session to get a new access token' : null), undefined);
      return undefined;
    }
    return { role: verified.claims.role, claims: verified.claims, authenticated: verified.claims.role !== 'anon' };
  }

  server.on('upgrade', (request, socket, head) => {
    const url = parseUrl(request.url);
    if (url === undefined || url.pathname !== '/realtime/v1/websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    realtime.handleUpgrade(request, socket, head, url.searchParams).catch((error: unknown) => {
      logger.error({ err: error }, 'websocket upgrade failed');
      socket.destroy();
    });
  });

  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`port ${config.port} on ${config.host} is already in use; stop the other server or pass another port (0 picks a free one)`));
        return;
      }
      reject(error);
    });
    server.listen(config.port, config.host, () => {
      server.removeAllListeners('error');
      server.on('error', (error) => logger.error({ err: error }, 'gateway server error'));
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host}:${port}`;
  if (apiUrl === '') apiUrl = url;
  logger.info({ url, functions: [...functions.keys()] }, 'gateway listening');

  return {
    url,
    port,
    async close() {
      await realtime.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([sql.end({ timeout: 2 }), listenSql.end({ timeout: 2 })]);
      logger.info({ url }, 'gateway stopped');
    },
  };
}

/**
 * Makes the pool send string parameters unchanged whatever type PostgreSQL infers for them.
 * postgres.js serializes by the inferred type, which would turn the filter value "true" into
 * `f` for a boolean column or JSON-quote it for a json column. PostgreSQL's own input functions
 * parse the text correctly and report a 22P02 error for bad input instead.
 */
function passStringsAsText(sql: Sql): void {
  const serializers = sql.options.serializers as Record<number, (value: unknown) => string>;
  (sql.options as { serializers: unknown }).serializers = new Proxy(serializers, {
    get(target, key) {
      const serialize = Reflect.get(target, key) as ((value: unknown) => string) | undefined;
      if (typeof serialize !== 'function') return serialize;
      return (value: unknown) => (typeof value === 'string' ? value : serialize(value));
    },
  });
}

function parseUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://127.0.0.1');
  } catch {
    return undefined;
  }
}

/** Takes a client-supplied `X-Request-Id` when it is short and plain, else generates one. */
function randomRequestId(request: IncomingMessage): string {
  const supplied = headerValue(request, 'x-request-id');
  if (supplied !== undefined && /^[A-Za-z0-9._-]{1,64}$/.test(supplied)) return supplied;
  return randomUUID();
}

export type { Sql };
