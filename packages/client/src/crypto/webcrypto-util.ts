/** Helpers shared by the WebCrypto paths (internal). */

/**
 * PKCS#8 PrivateKeyInfo prefixes for a raw 32-byte private key (RFC 8410
 * section 7): SEQUENCE, version 0, AlgorithmIdentifier with OID 1.3.101.110
 * (X25519) or 1.3.101.112 (Ed25519), then OCTET STRING { OCTET STRING key }.
 */
const PKCS8_PREFIX = {
  X25519: new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]),
  Ed25519: new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]),
} as const;

export function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}

/**
 * Narrows a Uint8Array to the BufferSource type of the DOM typings. WebCrypto
 * copies its inputs, and every buffer here is an ArrayBuffer view.
 */
export function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/** Wraps a raw private key in PKCS#8 and imports it; the wrapped copy is zeroed after the import. */
export async function importRawPrivateKey(
  algorithm: 'X25519' | 'Ed25519',
  privateKey: Uint8Array,
  extractable: boolean,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  const prefix = PKCS8_PREFIX[algorithm];
  const pkcs8 = new Uint8Array(prefix.length + privateKey.length);
  pkcs8.set(prefix, 0);
  pkcs8.set(privateKey, prefix.length);

  try {
    return await subtle().importKey('pkcs8', pkcs8, { name: algorithm }, extractable, usages);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Imports a raw private key whose public key is known through JWK (RFC 8037),
 * which took about 110 µs of CPU in Node 20 where PKCS#8 took 450 to 650 µs.
 * Falls back to PKCS#8 when the runtime rejects the JWK, for example a
 * runtime without OKP JWK support, or a public key that does not match (Node
 * checks it; Deno ignores `x`).
 *
 * NOTE: the JWK contains the private key as a base64url string, which cannot be
 * wiped and lives until the garbage collector frees it, like the base64 keys
 * in serialized state.
 */
export async function importRawPrivateKeyWithPublic(
  algorithm: 'X25519' | 'Ed25519',
  privateKey: Uint8Array,
  publicKey: Uint8Array,
  extractable: boolean,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  const jwk: JsonWebKey = { kty: 'OKP', crv: algorithm, d: encodeBase64Url(privateKey), x: encodeBase64Url(publicKey) };
  try {
    return await subtle().importKey('jwk', jwk, { name: algorithm }, extractable, usages);
  } catch {
    return importRawPrivateKey(algorithm, privateKey, extractable, usages);
  }
}

/** Exports the raw private key (`d`) and public key (`x`) of an extractable OKP private key through JWK. */
export async function exportOkpKeyPair(privateKey: CryptoKey): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }> {
  const jwk = await subtle().exportKey('jwk', privateKey);
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new Error('exported JWK lacks the d or x member');
  }
  return { publicKey: decodeBase64Url(jwk.x), privateKey: decodeBase64Url(jwk.d) };
}

/** Encodes bytes as unpadded base64url (RFC 4648 section 5), as JWK uses it. */
function encodeBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) {
    binary += String.fromCharCode(bytes[i]!);
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes unpadded base64url (RFC 4648 section 5) as JWK uses it. */
function decodeBase64Url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}
