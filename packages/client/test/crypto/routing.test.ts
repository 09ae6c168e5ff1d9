/**
 * Which implementation each backend setting reaches, observed through calls
 * into the runtime's WebCrypto.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { aesGcm, hmac, randomBytes, setCryptoBackend, x25519 } from '../../src/crypto/index.ts';

// The first WebCrypto use of an algorithm runs a support probe, which calls
// WebCrypto itself; run every probe before any call is counted.
beforeAll(async () => {
  setCryptoBackend('webcrypto');
  const own = await x25519.generateKeyPair();
  await x25519.sharedSecret(own.privateKey, own.publicKey);
  await aesGcm.encrypt(randomBytes(32), randomBytes(12), new Uint8Array(1), new Uint8Array(0));
  await hmac('SHA-256', randomBytes(32), new Uint8Array(1));
  setCryptoBackend('auto');
});

afterEach(() => {
  vi.restoreAllMocks();
  setCryptoBackend('auto');
});

describe('backend routing', () => {
  it('auto keeps short AES-GCM in JavaScript', async () => {
    const encrypt = vi.spyOn(globalThis.crypto.subtle, 'encrypt');
    setCryptoBackend('auto');

    await aesGcm.encrypt(randomBytes(32), randomBytes(12), new Uint8Array(1024), new Uint8Array(64));

    expect(encrypt).not.toHaveBeenCalled();
  });

  it('auto sends long AES-GCM to WebCrypto', async () => {
    const encrypt = vi.spyOn(globalThis.crypto.subtle, 'encrypt');
    setCryptoBackend('auto');

    await aesGcm.encrypt(randomBytes(32), randomBytes(12), new Uint8Array(8192), new Uint8Array(0));

    expect(encrypt).toHaveBeenCalledTimes(1);
  });

  it('auto keeps short HMAC in JavaScript', async () => {
    const sign = vi.spyOn(globalThis.crypto.subtle, 'sign');
    setCryptoBackend('auto');

    await hmac('SHA-256', randomBytes(32), new Uint8Array(1));

    expect(sign).not.toHaveBeenCalled();
  });

  it('auto sends X25519 to WebCrypto', async () => {
    const deriveBits = vi.spyOn(globalThis.crypto.subtle, 'deriveBits');
    setCryptoBackend('auto');
    const own = await x25519.generateKeyPair();
    const peer = await x25519.generateKeyPair();

    await x25519.sharedSecret(own.privateKey, peer.publicKey);

    expect(deriveBits).toHaveBeenCalledTimes(1);
  });

  it('webcrypto sends short inputs to WebCrypto', async () => {
    const encrypt = vi.spyOn(globalThis.crypto.subtle, 'encrypt');
    const sign = vi.spyOn(globalThis.crypto.subtle, 'sign');
    setCryptoBackend('webcrypto');

    await aesGcm.encrypt(randomBytes(32), randomBytes(12), new Uint8Array(16), new Uint8Array(0));
    await hmac('SHA-256', randomBytes(32), new Uint8Array(1));

    expect(encrypt).toHaveBeenCalledTimes(1);
    expect(sign).toHaveBeenCalledTimes(1);
  });

  it('noble never calls WebCrypto', async () => {
    const calls = [
      vi.spyOn(globalThis.crypto.subtle, 'encrypt'),
      vi.spyOn(globalThis.crypto.subtle, 'deriveBits'),
      vi.spyOn(globalThis.crypto.subtle, 'generateKey'),
      vi.spyOn(globalThis.crypto.subtle, 'sign'),
    ];
    setCryptoBackend('noble');

    const own = await x25519.generateKeyPair();
    const peer = await x25519.generateKeyPair();
    await x25519.sharedSecret(own.privateKey, peer.publicKey);
    await aesGcm.encrypt(randomBytes(32), randomBytes(12), new Uint8Array(8192), new Uint8Array(0));
    await hmac('SHA-256', randomBytes(32), new Uint8Array(20_000));

    for (const call of calls) {
      expect(call).not.toHaveBeenCalled();
    }
  });
});
