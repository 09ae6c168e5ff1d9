/** SHA-2 (FIPS 180-4), HMAC (RFC 2104) and HKDF (RFC 5869) over SHA-256 and SHA-512. */
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';

import { useWebCrypto } from './backend.ts';
import { assertBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';
import type { HashAlgorithm } from './types.ts';
import { source, subtle } from './webcrypto-util.ts';

const HASH_LENGTH: Record<HashAlgorithm, number> = { 'SHA-256': 32, 'SHA-512': 64 };

/** RFC 5869 section 2.3: the output is at most 255 blocks of the hash. */
const HKDF_MAX_BLOCKS = 255;

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  assertBytes(data, undefined, 'sha256', 'data');

  if (await useWebCrypto('SHA', data.length)) {
    return new Uint8Array(await subtle().digest('SHA-256', source(data)));
  }
  return nobleSha256(data);
}

export async function sha512(data: Uint8Array): Promise<Uint8Array> {
  assertBytes(data, undefined, 'sha512', 'data');

  if (await useWebCrypto('SHA', data.length)) {
    return new Uint8Array(await subtle().digest('SHA-512', source(data)));
  }
  return nobleSha512(data);
}

/** Computes HMAC(key, data) with SHA-256 or SHA-512. Any key length works, including zero. */
export async function hmac(hash: HashAlgorithm, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  assertHash(hash, 'hmac');
  assertBytes(key, undefined, 'hmac', 'key');
  assertBytes(data, undefined, 'hmac', 'data');

  // WebCrypto rejects a zero-length HMAC key, which RFC 2104 allows.
  if (key.length > 0 && (await useWebCrypto('HMAC', key.length + data.length))) {
    const cryptoKey = await subtle().importKey('raw', source(key), { name: 'HMAC', hash }, false, ['sign']);
    return new Uint8Array(await subtle().sign('HMAC', cryptoKey, source(data)));
  }
  return nobleHmac(nobleHash(hash), key, data);
}

/**
 * Derives `length` bytes with HKDF (RFC 5869 section 2): extract with `salt`
 * (an empty salt means HashLen zero bytes, as section 2.2 specifies), then
 * expand with `info`. `length` runs from 1 to 255 * HashLen.
 */
export async function hkdf(hash: HashAlgorithm, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  assertHash(hash, 'hkdf');
  assertBytes(ikm, undefined, 'hkdf', 'ikm');
  assertBytes(salt, undefined, 'hkdf', 'salt');
  assertBytes(info, undefined, 'hkdf', 'info');

  const maxLength = HKDF_MAX_BLOCKS * HASH_LENGTH[hash];
  if (!Number.isSafeInteger(length) || length < 1 || length > maxLength) {
    throw new CryptoError(`hkdf: length must be an integer from 1 to ${maxLength} for ${hash}, got ${String(length)}`);
  }

  if (await useWebCrypto('HKDF', ikm.length + salt.length + info.length + length)) {
    const key = await subtle().importKey('raw', source(ikm), 'HKDF', false, ['deriveBits']);
    const bits = await subtle().deriveBits({ name: 'HKDF', hash, salt: source(salt), info: source(info) }, key, length * 8);
    return new Uint8Array(bits);
  }
  return nobleHkdf(nobleHash(hash), ikm, salt, info, length);
}

function nobleHash(hash: HashAlgorithm): typeof nobleSha256 | typeof nobleSha512 {
  return hash === 'SHA-256' ? nobleSha256 : nobleSha512;
}

function assertHash(hash: unknown, operation: string): asserts hash is HashAlgorithm {
  if (hash !== 'SHA-256' && hash !== 'SHA-512') {
    throw new CryptoError(`${operation}: hash must be 'SHA-256' or 'SHA-512', got ${JSON.stringify(hash)}`);
  }
}
