/**
 * The error type every function returns to its caller, and the mapping of
 * PostgreSQL errors onto it.
 *
 * Every error reaches the caller as `{ "error": { "code", "message" } }`.
 * Codes are stable API; messages name the field or value and the fix.
 * Database internals (SQL text, constraint names, stack traces) never reach
 * the caller, only the log.
 */

/** Stable error codes, one per distinct condition a caller can act on. */
export type ErrorCode =
  | "invalid_json"
  | "invalid_request"
  | "batch_too_large"
  | "body_too_large"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "missing_token"
  | "invalid_token"
  | "forbidden"
  | "profile_not_found"
  | "invalid_signature"
  | "invalid_key"
  | "duplicate_key_id"
  | "prekey_limit_reached"
  | "identity_changed"
  | "identity_missing"
  | "identity_invalid"
  | "rate_limited"
  | "auth_unavailable"
  | "internal_error";

/** An error with its HTTP status, stable code, caller-facing message and extra response headers. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** The fields of a PostgreSQL error that the mapping reads; postgres.js's `PostgresError` has them. */
export interface DatabaseErrorFields {
  code: string;
  message: string;
  detail?: string | undefined;
  hint?: string | undefined;
}

/** Checks whether a thrown value is an error reported by PostgreSQL, which carries a five-character SQLSTATE. */
export function isDatabaseError(error: unknown): error is DatabaseErrorFields {
  if (typeof error !== "object" || error === null) {
    return false;
  }

  const candidate = error as { name?: unknown; code?: unknown; message?: unknown };
  return candidate.name === "PostgresError" &&
    typeof candidate.code === "string" &&
    /^[0-9A-Z]{5}$/.test(candidate.code) &&
    typeof candidate.message === "string";
}
