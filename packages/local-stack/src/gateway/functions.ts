import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { FunctionDefinition } from '../functions-config.ts';
import { CORS_HEADERS, headerValue, MAX_BODY_BYTES, sendJson } from './http.ts';
import { bearerToken, type TokenVerifier } from './tokens.ts';

export interface FunctionsContext {
  functions: Map<string, FunctionDefinition>;
  /** Base URL of the Deno functions router, or undefined when no functions are served. */
  routerUrl: string | undefined;
  verifier: TokenVerifier;
  logger: Logger;
}

/** Headers that describe one hop and are not forwarded. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'proxy-connection', 'te', 'trailer']);

/** Serves `/functions/v1/<name>...`; `path` is the part after `/functions/v1`. */
export async function handleFunction(
  context: FunctionsContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  search: string,
  requestId: string,
): Promise<void> {
  const name = path.split('/')[1] ?? '';
  const definition = context.functions.get(name);
  if (definition === undefined || context.routerUrl === undefined) {
    sendJson(response, 404, { code: 'NOT_FOUND', message: 'Requested function was not found' });
    return;
  }

  if (definition.verifyJwt && request.method !== 'OPTIONS') {
    const header = headerValue(request, 'authorization');
    const token = bearerToken(header);
    if (token === undefined) {
      sendJson(response, 401, { code: 'UNAUTHORIZED_NO_AUTH_HEADER', message: 'Missing authorization header' });
      return;
    }
    const verified = await context.verifier.verify(token);
    if (!verified.ok) {
      sendJson(response, 401, { code: 'UNAUTHORIZED_INVALID_JWT', message: `Invalid JWT: ${verified.message}` });
      return;
    }
  }

  const declared = Number(headerValue(request, 'content-length'));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    request.resume();
    sendJson(response, 413, { code: 'PAYLOAD_TOO_LARGE', message: `Request body is larger than ${MAX_BODY_BYTES} bytes` });
    return;
  }

  const headers: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined && !HOP_HEADERS.has(key)) headers[key] = value;
  }
  headers['x-request-id'] = requestId;

  const target = new URL(`${path}${search}`, context.routerUrl);
  await new Promise<void>((resolve) => {
    const upstream = httpRequest(target, { method: request.method, headers }, (upstreamResponse) => {
      const responseHeaders: Record<string, string | string[]> = {};
      for (const [key, value] of Object.entries(upstreamResponse.headers)) {
        if (value !== undefined && !HOP_HEADERS.has(key)) responseHeaders[key] = value;
      }
      for (const [key, value] of Object.entries(CORS_HEADERS)) {
        if (responseHeaders[key.toLowerCase()] === undefined) responseHeaders[key] = value;
      }
      response.writeHead(upstreamResponse.statusCode ?? 502, responseHeaders);
      upstreamResponse.pipe(response);
      upstreamResponse.on('end', resolve);
      upstreamResponse.on('error', () => {
        response.destroy();
        resolve();
      });
    });

    upstream.on('error', (error) => {
      context.logger.error({ err: error, requestId, function: name }, 'functions router is unreachable');
      sendJson(response, 502, { code: 'FUNCTION_UNAVAILABLE', message: 'The functions runtime is not reachable; check the stack log' });
      resolve();
    });

    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BODY_BYTES) {
        upstream.destroy();
        request.unpipe(upstream);
        sendJson(response, 413, { code: 'PAYLOAD_TOO_LARGE', message: `Request body is larger than ${MAX_BODY_BYTES} bytes` });
        resolve();
      }
    });
    request.pipe(upstream);
  });
}
