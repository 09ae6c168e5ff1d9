/**
 * Property tests: every operation gives the same bytes on WebCrypto and on
 * @noble/*, and the output of one backend is accepted by the other.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { aesGcm, ed25519, hkdf, hmac, sha256, sha512, x25519 } from '../../src/crypto/index.ts';
import { PROPERTY_SETTINGS, toHex, withBackend } from './support.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const shortBytes = fc.uint8Array({ maxLength: 300 });
const hash = fc.constantFrom('SHA-256' as const, 'SHA-512' as const);

/** Runs `operation` on both backends and returns both results as hex. */
async function onBothBackends(operation: () => Promise<Uint8Array>): Promise<[string, string]> {
  const web = await withBackend('webcrypto', operation);
  const noble = await withBackend('noble', operation);
  return [toHex(web), toHex(noble)];
}

describe('backends agree', () => {
  it('sha256 and sha512', async () => {
    await fc.assert(
      fc.asyncProperty(shortBytes, async (data) => {
        const [web256, noble256] = await onBothBackends(() => sha256(data));
        const [web512, noble512] = await onBothBackends(() => sha512(data));

        expect(web256).toBe(noble256);
        expect(web512).toBe(noble512);
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('hmac with any key length', async () => {
    await fc.assert(
      fc.asyncProperty(hash, fc.uint8Array({ maxLength: 200 }), shortBytes, async (algorithm, key, data) => {
        const [web, noble] = await onBothBackends(() => hmac(algorithm, key, data));

        expect(web).toBe(noble);
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('hkdf with any output length', async () => {
    await fc.assert(
      fc.asyncProperty(hash, shortBytes, shortBytes, shortBytes, fc.integer({ min: 1, max: 400 }), async (algorithm, ikm, salt, info, length) => {
        const [web, noble] = await onBothBackends(() => hkdf(algorithm, ikm, salt, info, length));

        expect(web).toBe(noble);
        expect(web.length).toBe(2 * length);
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('aes-gcm encrypts alike and decrypts across', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 5000 }), shortBytes, async (key, nonce, plaintext, associatedData) => {
        const [web, noble] = await onBothBackends(() => aesGcm.encrypt(key, nonce, plaintext, associatedData));
        expect(web).toBe(noble);

        const sealed = await withBackend('noble', () => aesGcm.encrypt(key, nonce, plaintext, associatedData));
        const [openedByWeb, openedByNoble] = await onBothBackends(() => aesGcm.decrypt(key, nonce, sealed, associatedData));
        expect(openedByWeb).toBe(toHex(plaintext));
        expect(openedByNoble).toBe(toHex(plaintext));
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('aes-gcm on auto matches noble', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 4000 }), shortBytes, async (key, nonce, plaintext, associatedData) => {
        const auto = await withBackend('auto', () => aesGcm.encrypt(key, nonce, plaintext, associatedData));
        const noble = await withBackend('noble', () => aesGcm.encrypt(key, nonce, plaintext, associatedData));
        expect(toHex(auto)).toBe(toHex(noble));

        const opened = await withBackend('auto', () => aesGcm.decrypt(key, nonce, noble, associatedData));
        expect(toHex(opened)).toBe(toHex(plaintext));
      }),
      { ...PROPERTY_SETTINGS, numRuns: 200 },
    );
  });

  it('x25519 public keys and shared secrets', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, bytes32, async (privateA, privateB) => {
        const [webPublicB, noblePublicB] = await onBothBackends(() => x25519.publicKeyFromPrivate(privateB));
        expect(webPublicB).toBe(noblePublicB);

        const publicB = await x25519.publicKeyFromPrivate(privateB);
        const [webShared, nobleShared] = await onBothBackends(() => x25519.sharedSecret(privateA, publicB));
        expect(webShared).toBe(nobleShared);
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('x25519 generated keys work on the other backend', async () => {
    for (const [generator, user] of [['webcrypto', 'noble'], ['noble', 'webcrypto']] as const) {
      const alice = await withBackend(generator, () => x25519.generateKeyPair());
      const bob = await withBackend(generator, () => x25519.generateKeyPair());

      const derivedPublic = await withBackend(user, () => x25519.publicKeyFromPrivate(alice.privateKey));
      const aliceShared = await withBackend(user, () => x25519.sharedSecret(alice.privateKey, bob.publicKey));
      const bobShared = await withBackend(generator, () => x25519.sharedSecret(bob.privateKey, alice.publicKey));

      expect(toHex(derivedPublic)).toBe(toHex(alice.publicKey));
      expect(toHex(aliceShared)).toBe(toHex(bobShared));
    }
  });

  it('ed25519 signatures are identical and verify across', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, shortBytes, async (seed, message) => {
        const [webPublic, noblePublic] = await onBothBackends(() => ed25519.publicKeyFromPrivate(seed));
        expect(webPublic).toBe(noblePublic);

        const [webSignature, nobleSignature] = await onBothBackends(() => ed25519.sign(seed, message));
        expect(webSignature).toBe(nobleSignature);

        const publicKey = await ed25519.publicKeyFromPrivate(seed);
        const signature = await ed25519.sign(seed, message);
        expect(await withBackend('webcrypto', () => ed25519.verify(publicKey, message, signature))).toBe(true);
        expect(await withBackend('noble', () => ed25519.verify(publicKey, message, signature))).toBe(true);
      }),
      PROPERTY_SETTINGS,
    );
  });

  it('ed25519 rejects any single flipped signature bit', async () => {
    const { publicKey, privateKey } = await ed25519.generateKeyPair();
    const message = new TextEncoder().encode('prekey');
    const signature = await ed25519.sign(privateKey, message);

    for (let bit = 0; bit < signature.length * 8; bit++) {
      const tampered = signature.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);

      expect(await withBackend('webcrypto', () => ed25519.verify(publicKey, message, tampered))).toBe(false);
      expect(await withBackend('noble', () => ed25519.verify(publicKey, message, tampered))).toBe(false);
    }
  });

  it('converted identity keys agree on X25519', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, bytes32, async (seedA, seedB) => {
        const publicA = await ed25519.publicKeyFromPrivate(seedA);
        const publicB = await ed25519.publicKeyFromPrivate(seedB);
        const privateA = ed25519.privateKeyToX25519(seedA);
        const privateB = ed25519.privateKeyToX25519(seedB);

        const [webAB, nobleAB] = await onBothBackends(() => x25519.sharedSecret(privateA, ed25519.publicKeyToX25519(publicB)));
        const [webBA] = await onBothBackends(() => x25519.sharedSecret(privateB, ed25519.publicKeyToX25519(publicA)));

        expect(webAB).toBe(nobleAB);
        expect(webAB).toBe(webBA);
      }),
      PROPERTY_SETTINGS,
    );
  });
});
