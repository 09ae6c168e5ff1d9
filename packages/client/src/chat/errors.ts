/**
 * The error type of the chat API. Each case has a stable `code` an app can
 * switch on; the message names the value involved and what to do next.
 */

/**
 * Error cases of the chat API.
 *
 * - `invalid_argument`: a caller passed a malformed profile name, content
 *   type or option; nothing was changed.
 * - `not_signed_in`: the supabase-js client has no session; sign in first.
 * - `not_registered`: the store contains no registered profile; call `register`.
 * - `already_registered`: the store already belongs to another profile.
 * - `profile_taken`: another user owns the profile name.
 * - `unknown_profile`: the recipient does not exist or has published no keys.
 * - `identity_changed`: a contact's identity key changed and the policy is
 *   `reject`; compare safety numbers and call `trustIdentity`.
 * - `rate_limited`: the backend asked to wait longer than the retry policy
 *   allows; `retryAfterMs` contains the requested delay.
 * - `unavailable`: the backend could not be reached or kept failing after
 *   all retries.
 * - `rejected`: the backend refused the request (a 4xx other than the cases above).
 * - `not_started`, `stopped`: the receive loop is not running.
 */
export type ChatErrorCode =
  | 'invalid_argument'
  | 'not_signed_in'
  | 'not_registered'
  | 'already_registered'
  | 'profile_taken'
  | 'unknown_profile'
  | 'identity_changed'
  | 'rate_limited'
  | 'unavailable'
  | 'rejected'
  | 'not_started'
  | 'stopped';

/** Error thrown by the chat API. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  /** Stable error case. */
  readonly code: ChatErrorCode;
  /** Delay the backend requested before a retry, for `rate_limited`. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ChatErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Returns true when `error` is a {@link ChatError}, optionally of the given code. */
export function isChatError(error: unknown, code?: ChatErrorCode): error is ChatError {
  return error instanceof ChatError && (code === undefined || error.code === code);
}
