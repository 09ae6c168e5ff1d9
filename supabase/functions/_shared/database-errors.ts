/**
 * Mapping of errors raised by PostgreSQL to the errors the functions return.
 * The mapping reads the SQLSTATE, plus the retry time of a rate limit and the
 * numbers of a stored-cap error. The database's own message goes to the log
 * only.
 */
import { ApiError, type DatabaseErrorFields } from "./errors.ts";
import { DEFAULT_RETRY_AFTER_SECONDS } from "./limits.ts";

/** SQLSTATEs the SQL functions raise on purpose (docs/formats.md). */
export const SQLSTATE = {
  noDataFound: "P0002",
  rateLimited: "PT429",
  insufficientPrivilege: "42501",
  uniqueViolation: "23505",
  invalidParameterValue: "22023",
} as const;

/** Argument names of publish_prekeys mapped to the request fields they come from. */
const PREKEY_ARGUMENT_FIELDS: Record<string, string> = {
  one_time_prekeys: "oneTimePrekeys",
  kem_prekeys: "kemPrekeys",
};

/**
 * Maps the invalid_parameter_value that publish_prekeys raises when an upload
 * would exceed the stored cap (its hint reads "N are stored; upload at most M
 * more.") to 409, and every other invalid_parameter_value to 400. The request
 * schema rejects malformed keys first, so the 400 case means the database and
 * the schema disagree; the database's message is logged, not returned.
 */
function mapInvalidParameter(error: DatabaseErrorFields): ApiError {
  const stored = /^(\d+) are stored; upload at most (\d+) more\.$/.exec(error.hint ?? "");

  if (stored === null) {
    return new ApiError(400, "invalid_request", "the database rejected a value in the request as invalid; check the key formats in docs/formats.md");
  }

  const argument = /^(\w+) would bring/.exec(error.message)?.[1] ?? "";
  const field = PREKEY_ARGUMENT_FIELDS[argument] ?? "the one-time prekeys";
  return new ApiError(
    409,
    "prekey_limit_reached",
    `${field}: ${stored[1]} keys of this kind are stored, so at most ${stored[2]} more fit; ` +
      "upload fewer keys or wait until claims use some up",
  );
}

/**
 * Reads the seconds to wait from a rate-limit error: the first whole number
 * followed by "second" in its detail, hint or message, or the default.
 */
export function retryAfterSeconds(error: DatabaseErrorFields): number {
  for (const text of [error.detail, error.hint, error.message]) {
    const match = text === undefined ? null : /(\d+)\s*s(?:econds?)?\b/i.exec(text);
    if (match !== null) {
      return Math.max(1, Number(match[1]));
    }
  }

  return DEFAULT_RETRY_AFTER_SECONDS;
}

/** Maps one database error to the caller-facing error; unknown SQLSTATEs become a 500. */
export function mapDatabaseError(error: DatabaseErrorFields, requestId: string): ApiError {
  switch (error.code) {
    case SQLSTATE.noDataFound:
      return new ApiError(
        404,
        "profile_not_found",
        "profile not found or without published keys; check the profile name",
      );

    case SQLSTATE.rateLimited: {
      const seconds = retryAfterSeconds(error);
      return new ApiError(
        429,
        "rate_limited",
        `too many bundle claims for this profile; retry after ${seconds} seconds`,
        { "Retry-After": String(seconds) },
      );
    }

    case SQLSTATE.insufficientPrivilege:
      return new ApiError(403, "forbidden", "the database does not allow this operation for the caller's role");

    case SQLSTATE.uniqueViolation:
      return new ApiError(
        409,
        "duplicate_key_id",
        "a key with this keyId is already stored for this profile; use a new keyId for every key",
      );

    case SQLSTATE.invalidParameterValue:
      return mapInvalidParameter(error);

    default:
      return new ApiError(500, "internal_error", `internal error; quote request id ${requestId} when reporting it`);
  }
}
