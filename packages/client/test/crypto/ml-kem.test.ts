import { shake128 } from '@noble/hashes/sha3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { constantTimeEqual, CryptoError, mlKem1024 } from '../../src/crypto/index.ts';
import { encapsulateWithMessage } from '../../src/crypto/ml-kem.ts';
import { loadVectors, PROPERTY_SETTINGS, toHex } from './support.ts';

interface MlKemVectors {
  rng: { streamStart: string };
  accumulated: { tests: number; hash: string }[];
}

const vectors = loadVectors<MlKemVectors>('ml-kem-1024.json');

describe('ML-KEM-1024', () => {
  it('key and ciphertext sizes match FIPS 203', () => {
    const { publicKey, privateKey } = mlKem1024.generateKeyPair();
    const { cipherText, sharedSecret } = mlKem1024.encapsulate(publicKey);

    expect(publicKey.length).toBe(1568);
    expect(privateKey.length).toBe(3168);
    expect(cipherText.length).toBe(1568);
    expect(sharedSecret.length).toBe(32);
  });

  it('decapsulation recovers the shared secret', () => {
    const { publicKey, privateKey } = mlKem1024.generateKeyPair();
    const { cipherText, sharedSecret } = mlKem1024.encapsulate(publicKey);

    expect(toHex(mlKem1024.decapsulate(cipherText, privateKey))).toBe(toHex(sharedSecret));
  });

  it('seeded key generation is deterministic', () => {
    const seed = new Uint8Array(64).fill(0x42);

    const first = mlKem1024.generateKeyPair(seed);
    const second = mlKem1024.generateKeyPair(seed);

    expect(constantTimeEqual(first.publicKey, second.publicKey)).toBe(true);
    expect(constantTimeEqual(first.privateKey, second.privateKey)).toBe(true);
    expect(seed.every((byte) => byte === 0x42)).toBe(true);
  });

  it('decapsulation key from seed equals key generation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (seed) => {
        const pair = mlKem1024.generateKeyPair(seed);

        expect(toHex(mlKem1024.decapsulationKeyFromSeed(seed, pair.publicKey))).toBe(toHex(pair.privateKey));
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('decapsulation key from seed recovers the shared secret', () => {
    const seed = new Uint8Array(64).fill(0x17);
    const { publicKey } = mlKem1024.generateKeyPair(seed);
    const { cipherText, sharedSecret } = mlKem1024.encapsulate(publicKey);

    const privateKey = mlKem1024.decapsulationKeyFromSeed(seed, publicKey);

    expect(toHex(mlKem1024.decapsulate(cipherText, privateKey))).toBe(toHex(sharedSecret));
  });

  it('decapsulation key with a foreign public key rejects implicitly', () => {
    const seed = new Uint8Array(64).fill(0x17);
    const { publicKey } = mlKem1024.generateKeyPair(seed);
    const { cipherText, sharedSecret } = mlKem1024.encapsulate(publicKey);
    const foreign = mlKem1024.generateKeyPair(new Uint8Array(64).fill(0x18)).publicKey;

    const privateKey = mlKem1024.decapsulationKeyFromSeed(seed, foreign);

    expect(constantTimeEqual(mlKem1024.decapsulate(cipherText, privateKey), sharedSecret)).toBe(false);
  });

  it('tampered ciphertext yields another secret', () => {
    const { publicKey, privateKey } = mlKem1024.generateKeyPair();
    const { cipherText, sharedSecret } = mlKem1024.encapsulate(publicKey);
    cipherText[100]! ^= 0x01;

    const rejected = mlKem1024.decapsulate(cipherText, privateKey);

    expect(rejected.length).toBe(32);
    expect(constantTimeEqual(rejected, sharedSecret)).toBe(false);
  });

  it('rejects an unreduced encapsulation key', () => {
    const { publicKey } = mlKem1024.generateKeyPair();
    // The first 12-bit coefficient becomes 0xfff, which is not below q = 3329.
    publicKey[0] = 0xff;
    publicKey[1]! |= 0x0f;

    expect(() => mlKem1024.encapsulate(publicKey)).toThrow(CryptoError);
  });

  it('rejects wrong lengths', () => {
    const { publicKey, privateKey } = mlKem1024.generateKeyPair();

    expect(() => mlKem1024.generateKeyPair(new Uint8Array(32))).toThrow('seed must be 64 bytes, got 32');
    expect(() => mlKem1024.encapsulate(publicKey.subarray(1))).toThrow('publicKey must be 1568 bytes, got 1567');
    expect(() => mlKem1024.decapsulate(new Uint8Array(1567), privateKey)).toThrow('cipherText must be 1568 bytes, got 1567');
    expect(() => mlKem1024.decapsulate(new Uint8Array(1568), privateKey.subarray(1))).toThrow('privateKey must be 3168 bytes, got 3167');
    expect(() => mlKem1024.decapsulationKeyFromSeed(new Uint8Array(63), publicKey)).toThrow('seed must be 64 bytes, got 63');
    expect(() => mlKem1024.decapsulationKeyFromSeed(new Uint8Array(64), publicKey.subarray(1))).toThrow('publicKey must be 1568 bytes, got 1567');
  });

  it('rejects a private key with a corrupted public key hash', () => {
    const { publicKey, privateKey } = mlKem1024.generateKeyPair();
    const { cipherText } = mlKem1024.encapsulate(publicKey);
    // dk = dkPKE (1536 bytes) || ek (1568) || H(ek) (32) || z (32); this flips a byte of H(ek).
    privateKey[1536 + 1568 + 5]! ^= 0x01;

    expect(() => mlKem1024.decapsulate(cipherText, privateKey)).toThrow(CryptoError);
  });

  it('deterministic RNG starts as published', () => {
    const rng = shake128.create({});

    expect(toHex(rng.xof(16))).toBe(vectors.rng.streamStart);
  });

  // 10,000 key generations, encapsulations and two decapsulations each: about 40 s of CPU.
  it.each(vectors.accumulated)('accumulated vector over $tests tests', { timeout: 600_000 }, ({ tests, hash }) => {
    const rng = shake128.create({});
    const accumulator = shake128.create({});

    for (let i = 0; i < tests; i++) {
      const seed = rng.xof(64);
      const message = rng.xof(32);
      const invalidCipherText = rng.xof(1568);

      const { publicKey, privateKey } = mlKem1024.generateKeyPair(seed);
      const { cipherText, sharedSecret } = encapsulateWithMessage(publicKey, message);
      const decapsulated = mlKem1024.decapsulate(cipherText, privateKey);
      const rejected = mlKem1024.decapsulate(invalidCipherText, privateKey);

      if (!constantTimeEqual(decapsulated, sharedSecret)) {
        throw new Error(`test ${i}: decapsulation did not recover the encapsulated secret`);
      }
      accumulator.update(publicKey);
      accumulator.update(privateKey);
      accumulator.update(cipherText);
      accumulator.update(sharedSecret);
      accumulator.update(rejected);
    }

    expect(toHex(accumulator.xof(32))).toBe(hash);
  });
});
