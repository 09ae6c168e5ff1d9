/**
 * Known-answer tests for every primitive, on both backends. The vectors and
 * their sources are in packages/client/vectors/kat.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  aesGcm,
  CryptoError,
  ed25519,
  hkdf,
  hmac,
  setCryptoBackend,
  sha256,
  sha512,
  x25519,
} from '../../src/crypto/index.ts';
import { BACKENDS, fromHex, loadVectors, toHex } from './support.ts';

interface X25519Vectors {
  scalarMultiplication: { name: string; scalar: string; u: string; output: string }[];
  iterated: { start: string; results: { iterations: number; output: string }[] };
  diffieHellman: { alicePrivate: string; alicePublic: string; bobPrivate: string; bobPublic: string; sharedSecret: string };
}
interface Ed25519Vectors {
  vectors: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
}
interface HkdfVectors {
  vectors: { name: string; ikm: string; salt: string; info: string; length: number; okm: string }[];
}
interface HmacVectors {
  vectors: { name: string; key: string; data: string; truncateTo?: number; sha256: string; sha512: string }[];
}
interface Sha2Vectors {
  vectors: { name: string; hash: 'SHA-256' | 'SHA-512'; message: string; digest: string }[];
}
interface AesGcmVectors {
  vectors: { name: string; key: string; nonce: string; plaintext: string; associatedData: string; ciphertext: string; tag: string }[];
}

const x25519Vectors = loadVectors<X25519Vectors>('x25519.json');
const ed25519Vectors = loadVectors<Ed25519Vectors>('ed25519.json');
const hkdfVectors = loadVectors<HkdfVectors>('hkdf-sha256.json');
const hmacVectors = loadVectors<HmacVectors>('hmac.json');
const sha2Vectors = loadVectors<Sha2Vectors>('sha2.json');
const aesGcmVectors = loadVectors<AesGcmVectors>('aes-256-gcm.json');

/** The 1,000,000-iteration X25519 vector takes minutes, so it runs only on request. */
const RUN_SLOW_VECTORS = process.env.PARLEY_SLOW_VECTORS === '1';

describe.each(BACKENDS)('known answers on %s', (backend) => {
  beforeAll(() => setCryptoBackend(backend));
  afterAll(() => setCryptoBackend('auto'));

  describe('X25519 (RFC 7748)', () => {
    it.each(x25519Vectors.scalarMultiplication)('$name', async (vector) => {
      const output = await x25519.sharedSecret(fromHex(vector.scalar), fromHex(vector.u));

      expect(toHex(output)).toBe(vector.output);
    });

    for (const result of x25519Vectors.iterated.results) {
      const slow = result.iterations > 1000;
      it.runIf(!slow || RUN_SLOW_VECTORS)(`iterated ${result.iterations} times`, { timeout: slow ? 3_600_000 : 60_000 }, async () => {
        let k = fromHex(x25519Vectors.iterated.start);
        let u = fromHex(x25519Vectors.iterated.start);

        for (let i = 0; i < result.iterations; i++) {
          const next = await x25519.sharedSecret(k, u);
          u = k;
          k = next;
        }

        expect(toHex(k)).toBe(result.output);
      });
    }

    it('Diffie-Hellman public keys of section 6.1', async () => {
      const dh = x25519Vectors.diffieHellman;

      expect(toHex(await x25519.publicKeyFromPrivate(fromHex(dh.alicePrivate)))).toBe(dh.alicePublic);
      expect(toHex(await x25519.publicKeyFromPrivate(fromHex(dh.bobPrivate)))).toBe(dh.bobPublic);
    });

    it('Diffie-Hellman shared secret of section 6.1', async () => {
      const dh = x25519Vectors.diffieHellman;

      const alice = await x25519.sharedSecret(fromHex(dh.alicePrivate), fromHex(dh.bobPublic));
      const bob = await x25519.sharedSecret(fromHex(dh.bobPrivate), fromHex(dh.alicePublic));

      expect(toHex(alice)).toBe(dh.sharedSecret);
      expect(toHex(bob)).toBe(dh.sharedSecret);
    });
  });

  describe('Ed25519 (RFC 8032)', () => {
    it.each(ed25519Vectors.vectors)('$name signs to the published signature', async (vector) => {
      const signature = await ed25519.sign(fromHex(vector.secretKey), fromHex(vector.message));

      expect(toHex(signature)).toBe(vector.signature);
    });

    it.each(ed25519Vectors.vectors)('$name derives the published public key', async (vector) => {
      const publicKey = await ed25519.publicKeyFromPrivate(fromHex(vector.secretKey));

      expect(toHex(publicKey)).toBe(vector.publicKey);
    });

    it.each(ed25519Vectors.vectors)('$name verifies', async (vector) => {
      const valid = await ed25519.verify(fromHex(vector.publicKey), fromHex(vector.message), fromHex(vector.signature));

      expect(valid).toBe(true);
    });

    it.each(ed25519Vectors.vectors)('$name rejects a flipped signature bit', async (vector) => {
      const signature = fromHex(vector.signature);
      signature[10]! ^= 0x01;

      const valid = await ed25519.verify(fromHex(vector.publicKey), fromHex(vector.message), signature);

      expect(valid).toBe(false);
    });

    it.each(ed25519Vectors.vectors)('$name converts to a matching X25519 pair', async (vector) => {
      const montgomeryPrivate = ed25519.privateKeyToX25519(fromHex(vector.secretKey));
      const montgomeryPublic = ed25519.publicKeyToX25519(fromHex(vector.publicKey));

      expect(toHex(await x25519.publicKeyFromPrivate(montgomeryPrivate))).toBe(toHex(montgomeryPublic));
    });
  });

  describe('HKDF-SHA-256 (RFC 5869)', () => {
    it.each(hkdfVectors.vectors)('$name', async (vector) => {
      const okm = await hkdf('SHA-256', fromHex(vector.ikm), fromHex(vector.salt), fromHex(vector.info), vector.length);

      expect(toHex(okm)).toBe(vector.okm);
    });
  });

  describe('HMAC (RFC 4231)', () => {
    it.each(hmacVectors.vectors)('$name with SHA-256', async (vector) => {
      const mac = await hmac('SHA-256', fromHex(vector.key), fromHex(vector.data));

      expect(toHex(mac.subarray(0, vector.truncateTo ?? mac.length))).toBe(vector.sha256);
    });

    it.each(hmacVectors.vectors)('$name with SHA-512', async (vector) => {
      const mac = await hmac('SHA-512', fromHex(vector.key), fromHex(vector.data));

      expect(toHex(mac.subarray(0, vector.truncateTo ?? mac.length))).toBe(vector.sha512);
    });
  });

  describe('SHA-2 (FIPS 180-4)', () => {
    it.each(sha2Vectors.vectors)('$name', async (vector) => {
      const message = new TextEncoder().encode(vector.message);
      const digest = vector.hash === 'SHA-256' ? await sha256(message) : await sha512(message);

      expect(toHex(digest)).toBe(vector.digest);
    });
  });

  describe('AES-256-GCM (McGrew and Viega)', () => {
    it.each(aesGcmVectors.vectors)('$name encrypts', async (vector) => {
      const sealed = await aesGcm.encrypt(fromHex(vector.key), fromHex(vector.nonce), fromHex(vector.plaintext), fromHex(vector.associatedData));

      expect(toHex(sealed)).toBe(vector.ciphertext + vector.tag);
    });

    it.each(aesGcmVectors.vectors)('$name decrypts', async (vector) => {
      const sealed = fromHex(vector.ciphertext + vector.tag);

      const opened = await aesGcm.decrypt(fromHex(vector.key), fromHex(vector.nonce), sealed, fromHex(vector.associatedData));

      expect(toHex(opened)).toBe(vector.plaintext);
    });

    it.each(aesGcmVectors.vectors)('$name rejects a flipped tag bit', async (vector) => {
      const sealed = fromHex(vector.ciphertext + vector.tag);
      sealed[sealed.length - 1]! ^= 0x80;

      await expect(aesGcm.decrypt(fromHex(vector.key), fromHex(vector.nonce), sealed, fromHex(vector.associatedData))).rejects.toThrow(CryptoError);
    });
  });
});
