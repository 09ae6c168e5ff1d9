/**
 * ML-KEM-1024 (FIPS 203) through @noble/post-quantum. WebCrypto has no ML-KEM
 * in Node 20 or the browsers, so this always runs in JavaScript.
 */
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';

import { assertBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';
import type { KeyPair } from './types.ts';

/** FIPS 203 table 3 sizes for ML-KEM-1024, and the 64-byte seed d || z of ML-KEM.KeyGen_internal. */
export const ML_KEM_1024_PUBLIC_KEY_LENGTH = 1568;
export const ML_KEM_1024_PRIVATE_KEY_LENGTH = 3168;
export const ML_KEM_1024_CIPHERTEXT_LENGTH = 1568;
export const ML_KEM_1024_SHARED_SECRET_LENGTH = 32;
export const ML_KEM_1024_SEED_LENGTH = 64;

export const mlKem1024 = {
  /**
   * Generates a key pair (FIPS 203 algorithm 19). A 64-byte `seed` (d || z)
   * makes it deterministic, for vectors and tests; without it the seed comes
   * from the platform CSPRNG.
   */
  generateKeyPair(seed?: Uint8Array): KeyPair {
    if (seed !== undefined) {
      assertBytes(seed, ML_KEM_1024_SEED_LENGTH, 'mlKem1024.generateKeyPair', 'seed');
    }

    const { publicKey, secretKey } = ml_kem1024.keygen(seed === undefined ? undefined : seed.slice());
    return { publicKey, privateKey: secretKey };
  },

  /**
   * Encapsulates a fresh shared secret to `publicKey` (FIPS 203 algorithm 20),
   * after the encapsulation key check of section 7.2.
   */
  encapsulate(publicKey: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
    assertBytes(publicKey, ML_KEM_1024_PUBLIC_KEY_LENGTH, 'mlKem1024.encapsulate', 'publicKey');

    try {
      return ml_kem1024.encapsulate(publicKey);
    } catch {
      throw new CryptoError('mlKem1024.encapsulate: publicKey is not a valid ML-KEM-1024 encapsulation key (a coefficient is not reduced modulo q)');
    }
  },

  /**
   * Decapsulates `cipherText` (FIPS 203 algorithm 21). A wrong ciphertext does
   * not throw: ML-KEM's implicit rejection returns an unrelated secret, so the
   * failure shows at the first AEAD check that uses it.
   */
  decapsulate(cipherText: Uint8Array, privateKey: Uint8Array): Uint8Array {
    assertBytes(cipherText, ML_KEM_1024_CIPHERTEXT_LENGTH, 'mlKem1024.decapsulate', 'cipherText');
    assertBytes(privateKey, ML_KEM_1024_PRIVATE_KEY_LENGTH, 'mlKem1024.decapsulate', 'privateKey');

    try {
      return ml_kem1024.decapsulate(cipherText, privateKey);
    } catch {
      throw new CryptoError('mlKem1024.decapsulate: privateKey failed the decapsulation key check of FIPS 203 section 7.3 (its hash of the public key does not match)');
    }
  },
};

/**
 * Encapsulates with a caller-chosen 32-byte message m instead of a random one
 * (ML-KEM.Encaps_internal, FIPS 203 algorithm 17). Internal: only known-answer
 * tests use it, because a repeated m repeats the shared secret.
 */
export function encapsulateWithMessage(publicKey: Uint8Array, message: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
  assertBytes(publicKey, ML_KEM_1024_PUBLIC_KEY_LENGTH, 'mlKem1024.encapsulate', 'publicKey');
  assertBytes(message, 32, 'mlKem1024.encapsulate', 'message');

  try {
    return ml_kem1024.encapsulate(publicKey, message);
  } catch {
    throw new CryptoError('mlKem1024.encapsulate: publicKey is not a valid ML-KEM-1024 encapsulation key (a coefficient is not reduced modulo q)');
  }
}
