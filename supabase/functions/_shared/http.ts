/**
 * The HTTP shell shared by every function: CORS, method and content-type
 * checks, bounded body reading, authentication, validation, and the mapping
 * of every failure to a JSON error with a stable code.
 */
import type { z } from "npm:zod@4.6.7";

import { Authenticator, type Caller, readAuthConfig } from "./auth.ts";
import { ApiError, isDatabaseError } from "./errors.ts";
import { mapDatabaseError } from "./database-errors.ts";
import { MAX_BODY_BYTES } from "./limits.ts";
import { type Logger, logger } from "./log.ts";
import { parseRequest } from "./schemas.ts";

export type FunctionName = keyof typeof MAX_BODY_BYTES;

/** Headers on every response, preflight included, so browsers can call the functions. */
export const CORS_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "authorization, x-client-info, apikey, content-type, x-region, x-request-id",
  "Access-Control-Expose-Headers": "retry-after, x-request-id",
  "Access-Control-Max-Age": "86400",
};

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Context of one request, passed to a function's operation with the validated body. */
export interface RequestContext {
  caller: Caller;
  requestId: string;
  log: Logger;
}

export interface FunctionDefinition<Schema extends z.ZodType> {
  name: FunctionName;
  schema: Schema;
  /** Performs the operation and returns the JSON body of the 200 response. */
  handle(body: z.infer<Schema>, context: RequestContext): Promise<unknown>;
}

/** The shape `Deno.serve` and the local stack's router call. */
export interface Handler {
  fetch(request: Request): Promise<Response>;
}

let authenticator: Authenticator | undefined;

function jsonResponse(
  status: number,
  body: unknown,
  requestId: string,
  extraHeaders: Record<string, string> = {},
): Response {
  const headers = new Headers({
    ...CORS_HEADERS,
    ...extraHeaders,
    "Content-Type": "application/json; charset=utf-8",
    "X-Request-Id": requestId,
  });
  const text = body === null ? null : JSON.stringify(body);
  return new Response(text, { status, headers });
}

function errorResponse(error: ApiError, requestId: string): Response {
  return jsonResponse(
    error.status,
    { error: { code: error.code, message: error.message } },
    requestId,
    error.headers,
  );
}

function assertJsonContentType(request: Request): void {
  const contentType = request.headers.get("content-type") ?? "";
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();

  if (mediaType !== "application/json") {
    throw new ApiError(
      415,
      "unsupported_media_type",
      `Content-Type ${contentType === "" ? "missing" : `"${contentType}"`}: send the body as ` +
        "application/json",
    );
  }
}

/** Reads the body, stopping as soon as it exceeds `maxBytes`. */
async function readBody(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new ApiError(413, "body_too_large", `request body exceeds ${maxBytes} bytes; send a smaller request`);

  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    throw tooLarge();
  }

  if (request.body === null) {
    return "";
  }

  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = request.body.getReader();

  while (true) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }

    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }

  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }

  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_json", "request body is not valid UTF-8; send UTF-8 encoded JSON");
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === "") {
    throw new ApiError(400, "invalid_json", "request body is empty; send a JSON object");
  }

  try {
    return JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? `: ${error.message}` : "";
    throw new ApiError(400, "invalid_json", `request body is not valid JSON${detail}`);
  }
}

/** Turns any thrown value into the ApiError sent to the caller, logging what the caller does not see. */
function toApiError(error: unknown, log: Logger, requestId: string): ApiError {
  if (error instanceof ApiError) {
    return error;
  }

  if (isDatabaseError(error)) {
    const mapped = mapDatabaseError(error, requestId);
    const fields = { sqlState: error.code, dbMessage: error.message, status: mapped.status };

    if (mapped.status >= 500) {
      log.error(fields, "database error");
    } else {
      log.info(fields, "database rejected the request");
    }
    return mapped;
  }

  log.error({ err: error }, "unexpected error");
  return new ApiError(500, "internal_error", `internal error; quote request id ${requestId} when reporting it`);
}

/**
 * Builds a function's handler. The order of checks: preflight, method,
 * token, content type, body size, JSON, schema, then the operation.
 */
export function createHandler<Schema extends z.ZodType>(definition: FunctionDefinition<Schema>): Handler {
  const maxBodyBytes = MAX_BODY_BYTES[definition.name];

  async function fetch(request: Request): Promise<Response> {
    const started = performance.now();
    const incomingId = request.headers.get("x-request-id");
    const requestId = incomingId !== null && REQUEST_ID_PATTERN.test(incomingId) ? incomingId : crypto.randomUUID();
    let log = logger.child({ function: definition.name, requestId });

    if (request.method === "OPTIONS") {
      return jsonResponse(204, null, requestId);
    }

    let response: Response;
    try {
      if (request.method !== "POST") {
        throw new ApiError(
          405,
          "method_not_allowed",
          `method ${request.method} not allowed: call ${definition.name} with POST`,
          { Allow: "POST, OPTIONS" },
        );
      }

      authenticator ??= new Authenticator(readAuthConfig());
      const caller = await authenticator.authenticate(request.headers.get("authorization"));
      log = log.child({ userId: caller.userId });

      assertJsonContentType(request);
      const body = parseRequest(definition.schema, parseJson(await readBody(request, maxBodyBytes)));
      const result = await definition.handle(body, { caller, requestId, log });
      response = jsonResponse(200, result, requestId);
    } catch (error) {
      const apiError = toApiError(error, log, requestId);
      if (apiError.status < 500) {
        log.debug({ status: apiError.status, code: apiError.code }, "request rejected");
      } else if (error instanceof ApiError) {
        // 5xx errors raised on purpose, such as an unreachable JWKS, are not logged by toApiError.
        log.error({ status: apiError.status, code: apiError.code }, "request failed");
      }
      response = errorResponse(apiError, requestId);
    }

    log.debug({ status: response.status, durationMs: Math.round(performance.now() - started) }, "request done");
    return response;
  }

  return { fetch };
}
