/**
 * Input validation, rejection of bad keys and tags, and the helpers around the
 * primitives, on both backends where the backend matters.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  aesGcm,
  clearKeyCache,
  constantTimeEqual,
  CryptoError,
  ed25519,
  hkdf,
  hmac,
  randomBytes,
  setCryptoBackend,
  sha256,
  wipe,
  x25519,
} from '../../src/crypto/index.ts';
import { keyCacheSize, MAX_CACHED_PRIVATE_KEYS } from '../../src/crypto/key-cache.ts';
import { BACKENDS, fromHex, toHex, withBackend } from './support.ts';

/**
 * u-coordinates of small-order Curve25519 points (0, 1 and the two points of
 * order 8) and the encodings p - 1, p and p + 1. X25519 with any clamped
 * scalar maps each of them to all zeros.
 */
const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe.each(BACKENDS)('validation on %s', (backend) => {
  beforeAll(() => setCryptoBackend(backend));
  afterAll(() => setCryptoBackend('auto'));

  it.each(LOW_ORDER_POINTS)('x25519 rejects low-order point %s', async (point) => {
    const { privateKey } = await x25519.generateKeyPair();

    await expect(x25519.sharedSecret(privateKey, fromHex(point))).rejects.toThrow(CryptoError);
    await expect(x25519.sharedSecret(privateKey, fromHex(point))).rejects.toThrow('low-order point');
  });

  it('x25519 rejects wrong key lengths', async () => {
    const { privateKey, publicKey } = await x25519.generateKeyPair();

    await expect(x25519.sharedSecret(privateKey.subarray(1), publicKey)).rejects.toThrow('x25519.sharedSecret: privateKey must be 32 bytes, got 31');
    await expect(x25519.sharedSecret(privateKey, new Uint8Array(33))).rejects.toThrow('x25519.sharedSecret: publicKey must be 32 bytes, got 33');
    await expect(x25519.publicKeyFromPrivate(new Uint8Array(0))).rejects.toThrow('privateKey must be 32 bytes, got 0');
  });

  it('x25519 rejects non-byte input', async () => {
    const { publicKey } = await x25519.generateKeyPair();

    await expect(x25519.sharedSecret('secret' as unknown as Uint8Array, publicKey)).rejects.toThrow('privateKey must be a Uint8Array, got string');
  });

  it('x25519 key pairs have 32-byte halves', async () => {
    const { privateKey, publicKey } = await x25519.generateKeyPair();

    expect(privateKey.length).toBe(32);
    expect(publicKey.length).toBe(32);
    expect(toHex(await x25519.publicKeyFromPrivate(privateKey))).toBe(toHex(publicKey));
  });

  it('ed25519 verify returns false for malformed input', async () => {
    const { publicKey, privateKey } = await ed25519.generateKeyPair();
    const message = new Uint8Array([1, 2, 3]);
    const signature = await ed25519.sign(privateKey, message);

    expect(await ed25519.verify(publicKey, message, signature)).toBe(true);
    expect(await ed25519.verify(publicKey, new Uint8Array([1, 2, 4]), signature)).toBe(false);
    expect(await ed25519.verify(publicKey, message, signature.subarray(1))).toBe(false);
    expect(await ed25519.verify(publicKey.subarray(1), message, signature)).toBe(false);
    expect(await ed25519.verify(new Uint8Array(32), message, signature)).toBe(false);
    expect(await ed25519.verify(new Uint8Array(32).fill(0xff), message, signature)).toBe(false);
    expect(await ed25519.verify(publicKey, message, new Uint8Array(64))).toBe(false);
    expect(await ed25519.verify(null as unknown as Uint8Array, message, signature)).toBe(false);
  });

  it('ed25519 verify rejects a non-canonical S', async () => {
    const { publicKey, privateKey } = await ed25519.generateKeyPair();
    const message = new Uint8Array([9]);
    const signature = await ed25519.sign(privateKey, message);
    // S + L, where L = 2^252 + 27742317777372353535851937790883648493 is the group order.
    const order = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) {
      s = (s << 8n) | BigInt(signature[i]!);
    }
    let shifted = s + order;
    const malleable = signature.slice();
    for (let i = 32; i < 64; i++) {
      malleable[i] = Number(shifted & 0xffn);
      shifted >>= 8n;
    }

    expect(await ed25519.verify(publicKey, message, malleable)).toBe(false);
  });

  it('ed25519 conversion rejects a non-canonical point', () => {
    // y = p = 2^255 - 19 is not a canonical field element (RFC 8032 section 5.1.3).
    const encoded = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');

    expect(() => ed25519.publicKeyToX25519(encoded)).toThrow('ed25519.publicKeyToX25519: publicKey is not a valid Ed25519 point encoding');
  });

  it('ed25519 conversion returns an unshared copy', async () => {
    const { publicKey } = await ed25519.generateKeyPair();
    const first = ed25519.publicKeyToX25519(publicKey);
    const expected = toHex(first);
    first.fill(0);

    expect(toHex(ed25519.publicKeyToX25519(publicKey))).toBe(expected);
  });

  it('ed25519 signs only with a 32-byte seed', async () => {
    await expect(ed25519.sign(new Uint8Array(64), new Uint8Array(1))).rejects.toThrow('ed25519.sign: privateKey must be 32 bytes, got 64');
  });

  it('aes-gcm rejects every flipped ciphertext bit', async () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const associatedData = new TextEncoder().encode('header');
    const sealed = await aesGcm.encrypt(key, nonce, new TextEncoder().encode('hello'), associatedData);

    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const tampered = sealed.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);

      await expect(aesGcm.decrypt(key, nonce, tampered, associatedData)).rejects.toThrow('aesGcm.decrypt: authentication failed');
    }
  });

  it('aes-gcm rejects changed associated data, nonce or key', async () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const associatedData = new TextEncoder().encode('header');
    const sealed = await aesGcm.encrypt(key, nonce, new TextEncoder().encode('hello'), associatedData);
    const otherNonce = nonce.slice();
    otherNonce[0]! ^= 1;
    const otherKey = key.slice();
    otherKey[31]! ^= 1;

    await expect(aesGcm.decrypt(key, nonce, sealed, new TextEncoder().encode('headex'))).rejects.toThrow(CryptoError);
    await expect(aesGcm.decrypt(key, otherNonce, sealed, associatedData)).rejects.toThrow(CryptoError);
    await expect(aesGcm.decrypt(otherKey, nonce, sealed, associatedData)).rejects.toThrow(CryptoError);
  });

  it('aes-gcm rejects wrong lengths', async () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);

    await expect(aesGcm.encrypt(key.subarray(16), nonce, new Uint8Array(1), new Uint8Array(0))).rejects.toThrow('aesGcm.encrypt: key must be 32 bytes, got 16');
    await expect(aesGcm.encrypt(key, randomBytes(16), new Uint8Array(1), new Uint8Array(0))).rejects.toThrow('aesGcm.encrypt: nonce must be 12 bytes, got 16');
    await expect(aesGcm.decrypt(key, nonce, new Uint8Array(15), new Uint8Array(0))).rejects.toThrow('ciphertext must be at least 16 bytes (the tag), got 15');
  });

  it('hkdf rejects out-of-range lengths', async () => {
    const ikm = new Uint8Array(32);
    const empty = new Uint8Array(0);

    await expect(hkdf('SHA-256', ikm, empty, empty, 0)).rejects.toThrow('hkdf: length must be an integer from 1 to 8160 for SHA-256, got 0');
    await expect(hkdf('SHA-256', ikm, empty, empty, 8161)).rejects.toThrow('got 8161');
    await expect(hkdf('SHA-512', ikm, empty, empty, 1.5)).rejects.toThrow('from 1 to 16320 for SHA-512, got 1.5');
    expect((await hkdf('SHA-256', ikm, empty, empty, 8160)).length).toBe(8160);
  });

  it('rejects unknown hash names', async () => {
    const bytes = new Uint8Array(1);

    await expect(hmac('SHA-1' as 'SHA-256', bytes, bytes)).rejects.toThrow(`hmac: hash must be 'SHA-256' or 'SHA-512', got "SHA-1"`);
    await expect(hkdf('sha256' as 'SHA-256', bytes, bytes, bytes, 32)).rejects.toThrow(`got "sha256"`);
  });

  it('error messages carry no key bytes', async () => {
    const key = fromHex('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');
    const nonce = new Uint8Array(12);
    const sealed = await aesGcm.encrypt(key, nonce, new Uint8Array(8), new Uint8Array(0));
    sealed[0]! ^= 1;

    const error = await aesGcm.decrypt(key, nonce, sealed, new Uint8Array(0)).catch((caught: unknown) => caught);
    const lowOrder = await x25519.sharedSecret(key, new Uint8Array(32)).catch((caught: unknown) => caught);

    for (const caught of [error, lowOrder]) {
      expect(caught).toBeInstanceOf(CryptoError);
      expect(String((caught as Error).message)).not.toContain('00112233');
      expect(String((caught as Error).message)).not.toContain('ABEiM0RVZneImaq7');
    }
  });
});

describe('helpers', () => {
  it('randomBytes returns the requested length', () => {
    expect(randomBytes(0).length).toBe(0);
    expect(randomBytes(32).length).toBe(32);
    expect(randomBytes(200_000).length).toBe(200_000);
  });

  it('randomBytes output differs between calls', () => {
    expect(toHex(randomBytes(32))).not.toBe(toHex(randomBytes(32)));
  });

  it('randomBytes fills beyond the first 64 KiB', () => {
    const output = randomBytes(3 * 65_536);

    expect(output.subarray(2 * 65_536).some((byte) => byte !== 0)).toBe(true);
  });

  it('randomBytes rejects invalid lengths', () => {
    expect(() => randomBytes(-1)).toThrow('randomBytes: length must be a non-negative integer, got -1');
    expect(() => randomBytes(1.5)).toThrow('got 1.5');
  });

  it('wipe zeroes every buffer', () => {
    const first = new Uint8Array([1, 2, 3]);
    const second = new Uint8Array(64).fill(0xaa);

    wipe(first, second);

    expect(first.every((byte) => byte === 0)).toBe(true);
    expect(second.every((byte) => byte === 0)).toBe(true);
  });

  it('wipe rejects non-byte arguments', () => {
    expect(() => wipe('key' as unknown as Uint8Array)).toThrow('wipe: every argument must be a Uint8Array');
  });

  it('constantTimeEqual compares content and length', () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([0x80]), new Uint8Array([0x00]))).toBe(false);
  });

  it('setCryptoBackend rejects unknown names', () => {
    expect(() => setCryptoBackend('openssl' as 'auto')).toThrow(`setCryptoBackend: backend must be one of auto, webcrypto, noble, got "openssl"`);
  });

  it('auto backend matches both backends', async () => {
    const data = randomBytes(20_000);
    const key = randomBytes(32);

    const auto = await withBackend('auto', () => hmac('SHA-256', key, data));
    const noble = await withBackend('noble', () => hmac('SHA-256', key, data));
    const small = await withBackend('auto', () => sha256(data.subarray(0, 10)));
    const smallNoble = await withBackend('noble', () => sha256(data.subarray(0, 10)));

    expect(toHex(auto)).toBe(toHex(noble));
    expect(toHex(small)).toBe(toHex(smallNoble));
  });
});

describe('webcrypto key cache', () => {
  it('a changed key never reuses a cached key', async () => {
    const peer = await withBackend('webcrypto', () => x25519.generateKeyPair());
    const own = await withBackend('webcrypto', () => x25519.generateKeyPair());

    const before = await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey, peer.publicKey));
    own.privateKey[5]! ^= 0x10;
    const after = await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey, peer.publicKey));
    const reference = await withBackend('noble', () => x25519.sharedSecret(own.privateKey, peer.publicKey));

    expect(toHex(after)).not.toBe(toHex(before));
    expect(toHex(after)).toBe(toHex(reference));
  });

  it('a copy of a key hits the same entry', async () => {
    clearKeyCache();
    const peer = await withBackend('webcrypto', () => x25519.generateKeyPair());
    const own = await withBackend('webcrypto', () => x25519.generateKeyPair());
    const size = keyCacheSize().privateKeys;

    await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey.slice(), peer.publicKey.slice()));
    await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey.slice(), peer.publicKey.slice()));

    expect(keyCacheSize().privateKeys).toBe(size);
  });

  it('imports through JWK given the public key', async () => {
    clearKeyCache();
    const peer = await withBackend('noble', () => x25519.generateKeyPair());
    const own = await withBackend('noble', () => x25519.generateKeyPair());
    const importKey = vi.spyOn(globalThis.crypto.subtle, 'importKey');
    try {
      const shared = await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey, peer.publicKey, own.publicKey));
      const reference = await withBackend('noble', () => x25519.sharedSecret(own.privateKey, peer.publicKey));

      expect(toHex(shared)).toBe(toHex(reference));
      expect(importKey.mock.calls.map((call) => call[0])).toEqual(['jwk', 'raw']);
    } finally {
      importKey.mockRestore();
    }
  });

  it('falls back to PKCS#8 on a mismatched public key', async () => {
    clearKeyCache();
    const peer = await withBackend('noble', () => x25519.generateKeyPair());
    const own = await withBackend('noble', () => x25519.generateKeyPair());

    const shared = await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey, peer.publicKey, peer.publicKey));
    const reference = await withBackend('noble', () => x25519.sharedSecret(own.privateKey, peer.publicKey));

    expect(toHex(shared)).toBe(toHex(reference));
  });

  it('rejects an own public key of the wrong length', async () => {
    const peer = await withBackend('noble', () => x25519.generateKeyPair());
    await expect(x25519.sharedSecret(peer.privateKey, peer.publicKey, new Uint8Array(31))).rejects.toThrow(
      /x25519\.sharedSecret: ownPublicKey/,
    );
  });

  it('concurrent uses of a new key share one import', async () => {
    clearKeyCache();
    const peer = await withBackend('noble', () => x25519.generateKeyPair());
    const own = await withBackend('noble', () => x25519.generateKeyPair());
    const importKey = vi.spyOn(globalThis.crypto.subtle, 'importKey');
    try {
      const outputs = await withBackend('webcrypto', () =>
        Promise.all([1, 2, 3].map(() => x25519.sharedSecret(own.privateKey, peer.publicKey))),
      );

      expect(new Set(outputs.map(toHex)).size).toBe(1);
      expect(importKey).toHaveBeenCalledTimes(2);
      expect(keyCacheSize()).toEqual({ privateKeys: 1, publicKeys: 1 });
    } finally {
      importKey.mockRestore();
    }
  });

  it('a failed import leaves no entry behind', async () => {
    clearKeyCache();
    const peer = await withBackend('noble', () => x25519.generateKeyPair());
    const own = await withBackend('noble', () => x25519.generateKeyPair());
    const importKey = vi.spyOn(globalThis.crypto.subtle, 'importKey').mockRejectedValueOnce(new Error('import failed'));
    try {
      const failed = withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey, peer.publicKey));
      await expect(failed).rejects.toThrow('import failed');
      await Promise.resolve();
      expect(keyCacheSize().privateKeys).toBe(0);

      const shared = await withBackend('webcrypto', () => x25519.sharedSecret(own.privateKey, peer.publicKey));
      const reference = await withBackend('noble', () => x25519.sharedSecret(own.privateKey, peer.publicKey));
      expect(toHex(shared)).toBe(toHex(reference));
    } finally {
      importKey.mockRestore();
    }
  });

  it('stays within its bound and clears', async () => {
    const peer = await withBackend('webcrypto', () => x25519.generateKeyPair());
    for (let i = 0; i < MAX_CACHED_PRIVATE_KEYS + 10; i++) {
      await withBackend('webcrypto', () => x25519.sharedSecret(randomBytes(32), peer.publicKey));
    }

    expect(keyCacheSize().privateKeys).toBe(MAX_CACHED_PRIVATE_KEYS);

    clearKeyCache();
    expect(keyCacheSize()).toEqual({ privateKeys: 0, publicKeys: 0 });
  });
});
