/**
 * Ed25519 signatures (RFC 8032 section 5.1) and the conversion of Ed25519 keys
 * to X25519 keys, so one identity key both signs prekeys and takes part in the
 * key agreement. The private key is the 32-byte seed (RFC 8032 section 5.1.5).
 */
import { ed25519 as nobleEd25519 } from '@noble/curves/ed25519.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';

import { useWebCrypto } from './backend.ts';
import { assertBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { privateCryptoKey, publicCryptoKey, rememberPrivateKey } from './key-cache.ts';
import type { KeyPair } from './types.ts';
import { exportOkpKeyPair, importRawPrivateKey, source, subtle } from './webcrypto-util.ts';

export const ED25519_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

/** Converted public keys kept, oldest dropped first: public data, one entry per recent contact. */
const MAX_CONVERTED_PUBLIC_KEYS = 256;

const convertedPublicKeys = new Map<string, Uint8Array>();

export const ed25519 = {
  /** Generates a key pair from the platform CSPRNG. The private key is the seed. */
  async generateKeyPair(): Promise<KeyPair> {
    if (await useWebCrypto('Ed25519')) {
      const pair = (await subtle().generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
      const exported = await exportOkpKeyPair(pair.privateKey);
      rememberPrivateKey('Ed25519', exported.privateKey, pair.privateKey);
      return exported;
    }

    const { secretKey, publicKey } = nobleEd25519.keygen();
    return { publicKey, privateKey: secretKey };
  },

  /** Computes the public key of a seed (RFC 8032 section 5.1.5). */
  async publicKeyFromPrivate(privateKey: Uint8Array): Promise<Uint8Array> {
    assertBytes(privateKey, ED25519_KEY_LENGTH, 'ed25519.publicKeyFromPrivate', 'privateKey');

    if (await useWebCrypto('Ed25519')) {
      const key = await importRawPrivateKey('Ed25519', privateKey, true, ['sign']);
      const exported = await exportOkpKeyPair(key);
      exported.privateKey.fill(0);
      return exported.publicKey;
    }

    return nobleEd25519.getPublicKey(privateKey);
  },

  /** Signs `message` with pure Ed25519 (RFC 8032 section 5.1.6). Signatures are deterministic. */
  async sign(privateKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
    assertBytes(privateKey, ED25519_KEY_LENGTH, 'ed25519.sign', 'privateKey');
    assertBytes(message, undefined, 'ed25519.sign', 'message');

    if (await useWebCrypto('Ed25519')) {
      const key = await privateCryptoKey('Ed25519', privateKey, () => importRawPrivateKey('Ed25519', privateKey, false, ['sign']));
      return new Uint8Array(await subtle().sign({ name: 'Ed25519' }, key, source(message)));
    }

    return nobleEd25519.sign(message, privateKey);
  },

  /**
   * Verifies an Ed25519 signature (RFC 8032 section 5.1.7, with the canonical
   * encodings it requires). Returns false, without throwing, for a bad
   * signature, a malformed key or signature, or inputs of the wrong length.
   */
  async verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    assertBytes(message, undefined, 'ed25519.verify', 'message');
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_LENGTH) {
      return false;
    }
    if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_LENGTH) {
      return false;
    }

    if (await useWebCrypto('Ed25519')) {
      return webCryptoVerify(publicKey, message, signature);
    }

    try {
      return nobleEd25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },

  /**
   * Maps an Ed25519 public key to its X25519 public key with the birational
   * map u = (1 + y) / (1 - y) of RFC 7748 section 4.1. Throws CryptoError when
   * the bytes are not a point on the curve.
   */
  publicKeyToX25519(publicKey: Uint8Array): Uint8Array {
    assertBytes(publicKey, ED25519_KEY_LENGTH, 'ed25519.publicKeyToX25519', 'publicKey');

    // The map costs a point decoding and a field inversion (about 130 µs), and
    // a contact's identity key is converted for every session with them.
    const id = toHex(publicKey);
    const cached = convertedPublicKeys.get(id);
    if (cached !== undefined) {
      return cached.slice();
    }

    let converted: Uint8Array;
    try {
      converted = nobleEd25519.utils.toMontgomery(publicKey);
    } catch {
      throw new CryptoError('ed25519.publicKeyToX25519: publicKey is not a valid Ed25519 point encoding');
    }

    convertedPublicKeys.set(id, converted.slice());
    if (convertedPublicKeys.size > MAX_CONVERTED_PUBLIC_KEYS) {
      convertedPublicKeys.delete(convertedPublicKeys.keys().next().value as string);
    }
    return converted;
  },

  /**
   * Derives the X25519 private key of an Ed25519 seed: the first 32 bytes of
   * SHA-512(seed), clamped (RFC 8032 section 5.1.5 steps 1 and 2). Its X25519
   * public key equals `publicKeyToX25519` of the seed's Ed25519 public key.
   */
  privateKeyToX25519(privateKey: Uint8Array): Uint8Array {
    assertBytes(privateKey, ED25519_KEY_LENGTH, 'ed25519.privateKeyToX25519', 'privateKey');

    const digest = nobleSha512(privateKey);
    const scalar = digest.slice(0, 32);
    digest.fill(0);

    scalar[0]! &= 248;
    scalar[31]! &= 127;
    scalar[31]! |= 64;
    return scalar;
  },
};

async function webCryptoVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    const key = await publicCryptoKey('Ed25519', publicKey, () => subtle().importKey('raw', source(publicKey), { name: 'Ed25519' }, false, ['verify']));
    return await subtle().verify({ name: 'Ed25519' }, key, source(signature), source(message));
  } catch {
    return false;
  }
}

function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) {
    hex += (bytes[i]! < 16 ? '0' : '') + bytes[i]!.toString(16);
  }
  return hex;
}
