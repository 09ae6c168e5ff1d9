/**
 * ML-KEM-1024 (FIPS 203) through @noble/post-quantum. WebCrypto has no ML-KEM
 * in Node 20 or the browsers, so this always runs in JavaScript.
 */
import { sha3_256, sha3_512, shake256 } from '@noble/hashes/sha3.js';
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
   * Rebuilds the decapsulation key of a key pair from its 64-byte seed and its
   * public key. Equals `generateKeyPair(seed).privateKey` when `publicKey` is
   * that pair's public key, at a fraction of the cost: of K-PKE.KeyGen (FIPS 203
   * algorithm 13) it computes only the secret vector s, and it skips the
   * matrix A and t = As + e, which the public key already holds.
   *
   * A `publicKey` from another seed gives a key that decapsulates to
   * unrelated secrets (implicit rejection), never an error.
   */
  decapsulationKeyFromSeed(seed: Uint8Array, publicKey: Uint8Array): Uint8Array {
    assertBytes(seed, ML_KEM_1024_SEED_LENGTH, 'mlKem1024.decapsulationKeyFromSeed', 'seed');
    assertBytes(publicKey, ML_KEM_1024_PUBLIC_KEY_LENGTH, 'mlKem1024.decapsulationKeyFromSeed', 'publicKey');
    return decapsulationKeyFromSeed(seed, publicKey);
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

// ML-KEM-1024 parameters (FIPS 203 section 8): n = 256, q = 3329, k = 4, eta1 = 2.
const N = 256;
const Q = 3329;
const K = 4;
const POLY_BYTES = 384;

/** zeta^BitRev7(i) mod q for i = 0..127, with zeta = 17 (FIPS 203 section 4.3). */
const ZETAS: Uint16Array = (() => {
  const zetas = new Uint16Array(128);
  for (let i = 0; i < 128; i++) {
    let reversed = 0;
    for (let bit = 0; bit < 7; bit++) {
      reversed |= ((i >> bit) & 1) << (6 - bit);
    }
    let power = 1;
    for (let j = 0; j < reversed; j++) {
      power = (power * 17) % Q;
    }
    zetas[i] = power;
  }
  return zetas;
})();

/** dk = ByteEncode12(NTT(s)) || ek || H(ek) || z (FIPS 203 algorithms 13 and 16). */
function decapsulationKeyFromSeed(seed: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const gInput = new Uint8Array(33);
  gInput.set(seed.subarray(0, 32));
  gInput[32] = K;
  const g = sha3_512(gInput);
  const sigma = g.subarray(32, 64);

  const decapsulationKey = new Uint8Array(ML_KEM_1024_PRIVATE_KEY_LENGTH);
  const prfInput = new Uint8Array(33);
  prfInput.set(sigma);
  const poly = new Uint16Array(N);
  for (let i = 0; i < K; i++) {
    // Algorithm 13, lines 8 to 11 and 16: s[i] is sampled from PRF_2(sigma, i), then transformed by the NTT.
    prfInput[32] = i;
    const noise = shake256(prfInput, { dkLen: 128 });
    samplePolyCbd2(noise, poly);
    noise.fill(0);
    ntt(poly);
    byteEncode12(poly, decapsulationKey.subarray(i * POLY_BYTES, (i + 1) * POLY_BYTES));
  }

  let offset = K * POLY_BYTES;
  decapsulationKey.set(publicKey, offset);
  offset += publicKey.length;
  decapsulationKey.set(sha3_256(publicKey), offset);
  decapsulationKey.set(seed.subarray(32, 64), offset + 32);

  gInput.fill(0);
  g.fill(0);
  prfInput.fill(0);
  poly.fill(0);
  return decapsulationKey;
}

/** SamplePolyCBD_eta for eta = 2 (FIPS 203 algorithm 8): each 4 bits give one coefficient. */
function samplePolyCbd2(bytes: Uint8Array, poly: Uint16Array): void {
  for (let i = 0; i < N / 2; i++) {
    const byte = bytes[i]!;
    const low = (byte & 1) + ((byte >> 1) & 1) - ((byte >> 2) & 1) - ((byte >> 3) & 1);
    const high = ((byte >> 4) & 1) + ((byte >> 5) & 1) - ((byte >> 6) & 1) - ((byte >> 7) & 1);
    poly[2 * i] = low < 0 ? low + Q : low;
    poly[2 * i + 1] = high < 0 ? high + Q : high;
  }
}

/** Computes the NTT in place (FIPS 203 algorithm 9). Coefficients stay in [0, q). */
function ntt(poly: Uint16Array): void {
  let zetaIndex = 1;
  for (let length = 128; length >= 2; length >>= 1) {
    for (let start = 0; start < N; start += 2 * length) {
      const zeta = ZETAS[zetaIndex++]!;
      for (let j = start; j < start + length; j++) {
        const t = (zeta * poly[j + length]!) % Q;
        const a = poly[j]!;
        poly[j + length] = a >= t ? a - t : a - t + Q;
        const sum = a + t;
        poly[j] = sum >= Q ? sum - Q : sum;
      }
    }
  }
}

/** ByteEncode_12 (FIPS 203 algorithm 5): two 12-bit coefficients per 3 bytes. */
function byteEncode12(poly: Uint16Array, out: Uint8Array): void {
  for (let i = 0; i < N / 2; i++) {
    const a = poly[2 * i]!;
    const b = poly[2 * i + 1]!;
    out[3 * i] = a & 0xff;
    out[3 * i + 1] = (a >> 8) | ((b & 0x0f) << 4);
    out[3 * i + 2] = b >> 4;
  }
}
