/**
 * Public key encodings and prekey signature checks (docs/formats.md).
 *
 * A prekey signature is the identity key's Ed25519 signature (RFC 8032) over
 * one type byte followed by the raw public key: `0x05 || key` for X25519 and
 * `0x08 || key` for ML-KEM-1024, as Signal encodes them. Verification is
 * strict (RFC 8032 section 5.1.7, no ZIP-215 leniency), so a signature has
 * exactly one accepted encoding.
 */
import { ed25519 } from "npm:@noble/curves@2.4.0/ed25519.js";

/** Byte lengths of the public values in docs/formats.md. */
export const KEY_BYTES = {
  identityKey: 32,
  x25519: 32,
  mlKem1024: 1568,
  signature: 64,
} as const;

/** Type bytes prefixed to a public key before it is signed. */
export const KEY_TYPE_BYTE = {
  x25519: 0x05,
  mlKem1024: 0x08,
} as const;

export type SignedKeyType = keyof typeof KEY_TYPE_BYTE;

/** Number of base64url characters, without padding, that encode `byteLength` bytes. */
export function base64UrlLength(byteLength: number): number {
  return Math.ceil((byteLength * 4) / 3);
}

/** Encodes bytes as base64url without padding (RFC 4648 section 5). */
export function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }

  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes canonical base64url without padding. Returns `undefined` for any
 * other text, including encodings whose unused trailing bits are not zero,
 * so each byte string has exactly one accepted encoding.
 */
export function decodeBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    return undefined;
  }

  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (character) => character.charCodeAt(0));

  if (encodeBase64Url(bytes) !== text) {
    return undefined;
  }

  return bytes;
}

/**
 * Checks that an Ed25519 public key is a canonical encoding of a point that
 * is not of small order, so signatures by it can mean anything at all.
 */
export function isValidIdentityKey(identityKey: Uint8Array): boolean {
  if (identityKey.length !== KEY_BYTES.identityKey) {
    return false;
  }

  try {
    const point = ed25519.Point.fromBytes(identityKey, false);
    return !point.isSmallOrder();
  } catch {
    return false;
  }
}

/**
 * Checks that bit 255 of an X25519 public key is clear. RFC 7748 section 5
 * ignores that bit, so a key with it set has a second encoding. Clients
 * reject such keys in a bundle, so publishing rejects them too.
 */
export function isCanonicalX25519PublicKey(publicKey: Uint8Array): boolean {
  return publicKey.length === KEY_BYTES.x25519 && publicKey[KEY_BYTES.x25519 - 1]! < 0x80;
}

/** ML-KEM modulus q (FIPS 203 section 2.4). */
const ML_KEM_Q = 3329;

/** Bytes of ByteEncode12 of the k = 4 polynomials in an ML-KEM-1024 encapsulation key. */
const ML_KEM_1024_ENCODED_T_BYTES = 384 * 4;

/**
 * Runs the encapsulation key modulus check of FIPS 203 section 7.2: every
 * 12-bit coefficient in the first 384k bytes is below q. A key that fails it
 * would make every sender's encapsulation fail.
 */
export function isValidMlKem1024PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== KEY_BYTES.mlKem1024) {
    return false;
  }

  for (let offset = 0; offset < ML_KEM_1024_ENCODED_T_BYTES; offset += 3) {
    const byte0 = publicKey[offset]!;
    const byte1 = publicKey[offset + 1]!;
    const byte2 = publicKey[offset + 2]!;
    const first = byte0 | ((byte1 & 0x0f) << 8);
    const second = (byte1 >> 4) | (byte2 << 4);

    if (first >= ML_KEM_Q || second >= ML_KEM_Q) {
      return false;
    }
  }

  return true;
}

/** Builds the signed message for a prekey: its type byte followed by the raw public key. */
export function encodeSignedPublicKey(keyType: SignedKeyType, publicKey: Uint8Array): Uint8Array {
  const message = new Uint8Array(1 + publicKey.length);
  message[0] = KEY_TYPE_BYTE[keyType];
  message.set(publicKey, 1);
  return message;
}

/** Verifies an identity key's signature over a prekey; returns false for any malformed input. */
export function verifyPrekeySignature(
  identityKey: Uint8Array,
  keyType: SignedKeyType,
  publicKey: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== KEY_BYTES.signature) {
    return false;
  }

  try {
    return ed25519.verify(signature, encodeSignedPublicKey(keyType, publicKey), identityKey, {
      zip215: false,
    });
  } catch {
    return false;
  }
}
