/**
 * Contact identity checks and safety numbers.
 *
 * The safety number follows Signal's numeric fingerprint (libsignal
 * `NumericFingerprintGenerator`). Per side, SHA-512 is
 * iterated 5200 times over the identity key and a stable identifier. The
 * first 30 bytes, read as six 5-byte big-endian numbers mod 100000, give 30
 * digits. The two halves are sorted, so both sides show the same 60 digits.
 * Unlike Signal, the key hashed is the raw 32-byte Ed25519 identity key and
 * the identifier is the profile name, so our numbers differ from Signal's.
 */
import { sha512 } from '../crypto/index.ts';
import { FINGERPRINT_ITERATIONS, FINGERPRINT_VERSION, ED25519_PUBLIC_KEY_BYTES } from './constants.ts';
import { base64UrlLength, concatBytes, fromBase64UrlOrNull, utf8 } from './encoding.ts';
import { ProtocolError } from './errors.ts';

/**
 * Policy for a known contact that presents a different identity key.
 * `reject` stops with `untrusted_identity`. `accept-and-warn` continues and
 * reports `identityChanged: true`, so the app can warn the user.
 */
export type IdentityPolicy = 'reject' | 'accept-and-warn';

export type IdentityStatus = 'new' | 'unchanged' | 'changed';

/**
 * Compares a presented identity key with the known one. Throws
 * `untrusted_identity` for a change under the `reject` policy.
 */
export function checkIdentity(
  knownIdentityKey: string | null | undefined,
  presentedIdentityKey: string,
  policy: IdentityPolicy,
): IdentityStatus {
  if (knownIdentityKey === null || knownIdentityKey === undefined) {
    return 'new';
  }
  if (knownIdentityKey === presentedIdentityKey) {
    return 'unchanged';
  }
  if (policy === 'reject') {
    throw new ProtocolError(
      'untrusted_identity',
      'Untrusted identity: the contact presented a different identity key than the one on record; compare safety numbers and accept the new key explicitly',
    );
  }
  return 'changed';
}

/**
 * Computes the 60-digit safety number of two identities, as a string of
 * digits. Both sides get the same number.
 */
export async function safetyNumber(
  local: { profile: string; identityKey: string },
  remote: { profile: string; identityKey: string },
): Promise<string> {
  const localHalf = await fingerprintHalf(local.profile, identityKeyBytes(local.identityKey, 'local'));
  const remoteHalf = await fingerprintHalf(remote.profile, identityKeyBytes(remote.identityKey, 'remote'));
  return localHalf < remoteHalf ? localHalf + remoteHalf : remoteHalf + localHalf;
}

/** Formats a 60-digit safety number as 12 groups of 5 digits, as apps usually show it. */
export function formatSafetyNumber(digits: string): string {
  return digits.match(/\d{5}/g)?.join(' ') ?? digits;
}

async function fingerprintHalf(profile: string, identityKey: Uint8Array): Promise<string> {
  const version = Uint8Array.of(0, FINGERPRINT_VERSION);
  let hash = concatBytes(version, identityKey, utf8(profile));
  for (let i = 0; i < FINGERPRINT_ITERATIONS; i++) {
    hash = await sha512(concatBytes(hash, identityKey));
  }

  let digits = '';
  for (let chunk = 0; chunk < 6; chunk++) {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      value = value * 256 + hash[chunk * 5 + i]!;
    }
    digits += String(value % 100000).padStart(5, '0');
  }
  return digits;
}

function identityKeyBytes(identityKey: string, side: string): Uint8Array {
  const bytes = identityKey.length === base64UrlLength(ED25519_PUBLIC_KEY_BYTES) ? fromBase64UrlOrNull(identityKey) : null;
  if (bytes === null) {
    throw new ProtocolError(
      'invalid_argument',
      `Invalid ${side} identity key: expected ${base64UrlLength(ED25519_PUBLIC_KEY_BYTES)} characters of base64url (an Ed25519 public key)`,
    );
  }
  return bytes;
}
