/**
 * The single error type of the protocol core and the stores.
 *
 * Every case has a stable `code`. Messages name the offending value and the
 * fix, but never contain key material or plaintext.
 */

/**
 * Error cases, each documented in packages/client/README.md.
 *
 * - `invalid_envelope`: the envelope is not valid JSON, has missing or extra
 *   fields, or a field has the wrong type, encoding or length.
 * - `unsupported_version`: the envelope or state names a version this SDK
 *   does not read.
 * - `invalid_bundle`: a prekey bundle does not match the documented shape.
 * - `invalid_signature`: a prekey signature in a bundle does not verify, so
 *   session setup stops.
 * - `untrusted_identity`: the contact's identity key changed and the policy
 *   is `reject`.
 * - `unknown_prekey`: a first message names a signed or KEM prekey id this
 *   account does not hold (never issued, or expired after rotation).
 * - `one_time_prekey_reused`: a first message names a one-time prekey whose
 *   private half was already used and deleted.
 * - `no_session`: a ratchet message arrived from a contact without a session.
 * - `duplicate_message`: the message key was already used, so the message
 *   was decrypted before; the caller can acknowledge it without showing it.
 * - `too_far_ahead`: the message would skip more message keys than allowed.
 * - `decryption_failed`: authentication failed; the state is unchanged.
 * - `invalid_state`: serialized account or session state is malformed.
 * - `invalid_argument`: a caller passed an out-of-range value.
 * - `store_corrupt`: a store file exists but cannot be read as a store.
 * - `store_foreign`: a file at the store path belongs to something else.
 * - `store_locked`: another tab, window or connection keeps the store open,
 *   so close it there or open another store name.
 */
export type ProtocolErrorCode =
  | 'invalid_envelope'
  | 'unsupported_version'
  | 'invalid_bundle'
  | 'invalid_signature'
  | 'untrusted_identity'
  | 'unknown_prekey'
  | 'one_time_prekey_reused'
  | 'no_session'
  | 'duplicate_message'
  | 'too_far_ahead'
  | 'decryption_failed'
  | 'invalid_state'
  | 'invalid_argument'
  | 'store_corrupt'
  | 'store_foreign'
  | 'store_locked';

/** Numbers that describe the failure, for callers and logs (never secrets). */
export interface ProtocolErrorDetails {
  /** Message counter of the rejected message. */
  counter?: number;
  /** Largest allowed value that `counter` or a skip exceeded. */
  max?: number;
  /** Prekey id named by a first message. */
  keyId?: number;
  /** Path of the store file involved. */
  path?: string;
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  readonly details: ProtocolErrorDetails;

  constructor(code: ProtocolErrorCode, message: string, details: ProtocolErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/** Returns true when `error` is a ProtocolError with the given code. */
export function isProtocolError(error: unknown, code?: ProtocolErrorCode): error is ProtocolError {
  return error instanceof ProtocolError && (code === undefined || error.code === code);
}
