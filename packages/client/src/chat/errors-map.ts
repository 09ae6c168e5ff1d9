/**
 * Translation of transport and protocol failures into {@link ChatError}s
 * with the case an app can act on.
 */
import { ProtocolError } from '../protocol/errors.ts';
import { ChatError } from './errors.ts';
import { TransportError } from './retry.ts';

/** PostgreSQL SQLSTATEs the chat layer distinguishes. */
const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  insufficientPrivilege: '42501',
} as const;

/**
 * Maps a failure of `operation` to a ChatError. Errors that are already
 * ChatErrors pass through; unknown errors are wrapped as `unavailable` only
 * when they are transport failures, and rethrown as they are otherwise.
 */
export function toChatError(error: unknown, operation: string, target?: string): ChatError {
  if (error instanceof ChatError) {
    return error;
  }

  if (error instanceof ProtocolError && error.code === 'untrusted_identity') {
    return new ChatError(
      'identity_changed',
      `${operation} failed: the identity key of ${target ?? 'the contact'} changed; compare safety numbers, then call trustIdentity(${JSON.stringify(target ?? '')})`,
      { cause: error },
    );
  }

  if (!(error instanceof TransportError)) {
    throw error;
  }

  if (error.status === 0) {
    return new ChatError('unavailable', `${operation} failed: the backend could not be reached; check the URL and that it is running`, {
      cause: error,
    });
  }
  if (error.status === 401) {
    return new ChatError('not_signed_in', `${operation} failed: the session is missing or expired; sign in again`, { cause: error });
  }
  if (error.status === 429) {
    const seconds = Math.ceil((error.retryAfterMs ?? 0) / 1000);
    return new ChatError('rate_limited', `${operation} failed: rate limited by the backend; retry in ${seconds} s`, {
      cause: error,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    });
  }
  if (error.status >= 500) {
    return new ChatError('unavailable', `${operation} failed: the backend returned HTTP ${error.status} after all retries`, {
      cause: error,
    });
  }
  if (error.status === 404 || error.code === SQLSTATE.foreignKeyViolation || error.code === 'profile_not_found') {
    return new ChatError(
      'unknown_profile',
      `${operation} failed: the profile ${JSON.stringify(target ?? '')} does not exist or has published no keys; check the name`,
      { cause: error },
    );
  }
  return new ChatError('rejected', `${operation} failed: ${error.message}`, { cause: error });
}

/** Returns true for a unique violation, such as a profile name another user owns. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof TransportError && error.code === SQLSTATE.uniqueViolation;
}

/**
 * Unique constraints of `chat_participants` that a profile claim can violate:
 * the profile name (`profile`) or the one-profile-per-user rule (`owner`).
 */
const CLAIM_CONSTRAINTS = {
  chat_participants_profile_key: 'profile',
  chat_participants_owner_id_key: 'owner',
} as const;

/**
 * Classifies a failed insert into `chat_participants`: `profile` when the
 * name is taken, `owner` when the user already owns a profile, `undefined`
 * for any other failure. PostgreSQL names the violated constraint in the
 * message (`duplicate key value violates unique constraint "<name>"`), and
 * PostgREST passes that message through unchanged.
 */
export function claimConflict(error: unknown): 'profile' | 'owner' | 'unknown' | undefined {
  if (!isUniqueViolation(error)) {
    return undefined;
  }
  const constraint = /unique constraint "([^"]+)"/.exec((error as TransportError).message)?.[1];
  if (constraint !== undefined && Object.hasOwn(CLAIM_CONSTRAINTS, constraint)) {
    return CLAIM_CONSTRAINTS[constraint as keyof typeof CLAIM_CONSTRAINTS];
  }
  return 'unknown';
}

/** Returns true for a request the database's policies rejected. */
export function isPolicyViolation(error: unknown): boolean {
  return error instanceof TransportError && (error.code === SQLSTATE.insufficientPrivilege || error.status === 403);
}
