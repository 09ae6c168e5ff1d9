/**
 * X25519 Diffie-Hellman (RFC 7748 sections 5 and 6.1) over raw 32-byte keys.
 * Both backends clamp the scalar as RFC 7748 section 5 specifies, so any 32
 * bytes are a valid private key.
 */
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';

import { useWebCrypto } from './backend.ts';
import { assertBytes, isAllZero } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { privateCryptoKey, publicCryptoKey, rememberPrivateKey } from './key-cache.ts';
import type { KeyPair } from './types.ts';
import { exportOkpKeyPair, importRawPrivateKey, importRawPrivateKeyWithPublic, source, subtle } from './webcrypto-util.ts';

export const X25519_KEY_LENGTH = 32;

const ALL_ZERO_MESSAGE = 'x25519.sharedSecret: the shared secret is all zero, so the public key is a low-order point; reject this key';

export const x25519 = {
  /** Generates a key pair from the platform CSPRNG. */
  async generateKeyPair(): Promise<KeyPair> {
    if (await useWebCrypto('X25519')) {
      const pair = (await subtle().generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
      const exported = await exportOkpKeyPair(pair.privateKey);
      rememberPrivateKey('X25519', exported.privateKey, pair.privateKey);
      return exported;
    }

    const { secretKey, publicKey } = nobleX25519.keygen();
    return { publicKey, privateKey: secretKey };
  },

  /** Computes the public key X25519(k, 9) of a private key (RFC 7748 section 6.1). */
  async publicKeyFromPrivate(privateKey: Uint8Array): Promise<Uint8Array> {
    assertBytes(privateKey, X25519_KEY_LENGTH, 'x25519.publicKeyFromPrivate', 'privateKey');

    if (await useWebCrypto('X25519')) {
      const key = await importRawPrivateKey('X25519', privateKey, true, ['deriveBits']);
      const exported = await exportOkpKeyPair(key);
      exported.privateKey.fill(0);
      return exported.publicKey;
    }

    return nobleX25519.getPublicKey(privateKey);
  },

  /**
   * Computes X25519(privateKey, publicKey). Throws CryptoError when the result
   * is all zero, which happens exactly for low-order public keys (RFC 7748
   * section 6.1 allows this check and Signal's protocols require it).
   *
   * `ownPublicKey`, the public key of `privateKey` when the caller has it,
   * lets WebCrypto import an uncached private key through JWK, four to six
   * times cheaper than PKCS#8 in Node 20. It does not change the result.
   */
  async sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array, ownPublicKey?: Uint8Array): Promise<Uint8Array> {
    assertBytes(privateKey, X25519_KEY_LENGTH, 'x25519.sharedSecret', 'privateKey');
    assertBytes(publicKey, X25519_KEY_LENGTH, 'x25519.sharedSecret', 'publicKey');
    if (ownPublicKey !== undefined) {
      assertBytes(ownPublicKey, X25519_KEY_LENGTH, 'x25519.sharedSecret', 'ownPublicKey');
    }

    let shared: Uint8Array;
    if (await useWebCrypto('X25519')) {
      shared = await webCryptoSharedSecret(privateKey, publicKey, ownPublicKey);
    } else {
      shared = nobleSharedSecret(privateKey, publicKey);
    }

    if (isAllZero(shared)) {
      throw new CryptoError(ALL_ZERO_MESSAGE);
    }
    return shared;
  },
};

function nobleSharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return nobleX25519.getSharedSecret(privateKey, publicKey);
  } catch {
    // @noble/curves rejects an all-zero result itself.
    throw new CryptoError(ALL_ZERO_MESSAGE);
  }
}

async function webCryptoSharedSecret(privateKey: Uint8Array, publicKey: Uint8Array, ownPublicKey: Uint8Array | undefined): Promise<Uint8Array> {
  const ownKey = await privateCryptoKey('X25519', privateKey, () =>
    ownPublicKey === undefined
      ? importRawPrivateKey('X25519', privateKey, false, ['deriveBits'])
      : importRawPrivateKeyWithPublic('X25519', privateKey, ownPublicKey, false, ['deriveBits']),
  );
  const peerKey = await publicCryptoKey('X25519', publicKey, () => subtle().importKey('raw', source(publicKey), { name: 'X25519' }, false, []));

  try {
    const bits = await subtle().deriveBits({ name: 'X25519', public: peerKey }, ownKey, 256);
    return new Uint8Array(bits);
  } catch (error) {
    // OpenSSL (Node) and the browsers fail the derivation when the result is all zero.
    throw new CryptoError(ALL_ZERO_MESSAGE, { cause: error });
  }
}
