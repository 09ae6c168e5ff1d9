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
 * - `already_registered`: the store already belongs to another profile, or
 *   the signed-in user already owns another profile. Each user may own one
 *   profile, and the message names the owned one when it can be read.
 * - `profile_taken`: another user owns the profile name; choose another one.
 * - `unknown_profile`: the recipient does not exist or has published no keys.
 * - `identity_changed`: a contact's identity key changed and the policy is
 *   `reject`; compare safety numbers and call `trustIdentity`.
 * - `rate_limited`: the backend asked to wait longer than the retry policy
 *   allows; `retryAfterMs` contains the requested delay.
 * - `unavailable`: the backend could not be reached or kept failing after
 *   all retries.
 * - `rejected`: the backend refused the request (a 4xx other than the cases above).
 * - `not_started`, `stopped`: the receive loop is not running.
 *
 * A `send` that fails after the message was committed to the store (the
 * insert of its topic failed) carries the message's id in `messageId`.
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
  /**
   * Id of the message a failed `send` committed to the store before the
   * failure: the id its history entry and any delivery receipt carry.
   * Undefined when the send failed before the commit, so nothing was stored.
   */
  readonly messageId: string | undefined;

  constructor(code: ChatErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number; messageId?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.messageId = options.messageId;
  }
}

/** Returns true when `error` is a {@link ChatError}, optionally of the given code. */
export function isChatError(error: unknown, code?: ChatErrorCode): error is ChatError {
  return error instanceof ChatError && (code === undefined || error.code === code);
}
