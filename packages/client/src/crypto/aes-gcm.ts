/**
 * AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag. The
 * output of `encrypt` is ciphertext || tag, as WebCrypto returns it.
 *
 * Backends: 'webcrypto' and 'noble' use WebCrypto and @noble/ciphers. 'auto'
 * uses WebCrypto from 4 KiB of input and below that aes-gcm-js.ts, which is
 * about twice as fast as @noble/ciphers for a message under a fresh key.
 */
import { gcm } from '@noble/ciphers/aes.js';

import { gcmDecrypt, gcmEncrypt } from './aes-gcm-js.ts';
import { getCryptoBackend, useWebCrypto } from './backend.ts';
import { assertBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { source, subtle } from './webcrypto-util.ts';

export const AES_GCM_KEY_LENGTH = 32;
export const AES_GCM_NONCE_LENGTH = 12;
export const AES_GCM_TAG_LENGTH = 16;

const AUTHENTICATION_FAILED = 'aesGcm.decrypt: authentication failed because the ciphertext, nonce, associated data or key is wrong';

export const aesGcm = {
  /** Encrypts and authenticates `plaintext` and authenticates `associatedData`. A nonce must never repeat under one key. */
  async encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array> {
    assertInputs('aesGcm.encrypt', key, nonce, associatedData);
    assertBytes(plaintext, undefined, 'aesGcm.encrypt', 'plaintext');

    if (await useWebCrypto('AES-GCM', plaintext.length + associatedData.length)) {
      const cryptoKey = await subtle().importKey('raw', source(key), 'AES-GCM', false, ['encrypt']);
      const sealed = await subtle().encrypt(
        { name: 'AES-GCM', iv: source(nonce), additionalData: source(associatedData), tagLength: AES_GCM_TAG_LENGTH * 8 },
        cryptoKey,
        source(plaintext),
      );
      return new Uint8Array(sealed);
    }
    if (getCryptoBackend() === 'auto') {
      return gcmEncrypt(key, nonce, plaintext, associatedData);
    }
    return gcm(key, nonce, associatedData).encrypt(plaintext);
  },

  /** Verifies the tag and decrypts. Throws CryptoError, and releases no plaintext, when authentication fails. */
  async decrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array> {
    assertInputs('aesGcm.decrypt', key, nonce, associatedData);
    assertBytes(ciphertext, undefined, 'aesGcm.decrypt', 'ciphertext');
    if (ciphertext.length < AES_GCM_TAG_LENGTH) {
      throw new CryptoError(`aesGcm.decrypt: ciphertext must be at least ${AES_GCM_TAG_LENGTH} bytes (the tag), got ${ciphertext.length}`);
    }

    try {
      if (await useWebCrypto('AES-GCM', ciphertext.length + associatedData.length)) {
        const cryptoKey = await subtle().importKey('raw', source(key), 'AES-GCM', false, ['decrypt']);
        const opened = await subtle().decrypt(
          { name: 'AES-GCM', iv: source(nonce), additionalData: source(associatedData), tagLength: AES_GCM_TAG_LENGTH * 8 },
          cryptoKey,
          source(ciphertext),
        );
        return new Uint8Array(opened);
      }
      if (getCryptoBackend() === 'auto') {
        const opened = gcmDecrypt(key, nonce, ciphertext, associatedData);
        if (opened === null) {
          throw new CryptoError(AUTHENTICATION_FAILED);
        }
        return opened;
      }
      return gcm(key, nonce, associatedData).decrypt(ciphertext);
    } catch (error) {
      if (error instanceof CryptoError) {
        throw error;
      }
      throw new CryptoError(AUTHENTICATION_FAILED);
    }
  },
};

function assertInputs(operation: string, key: Uint8Array, nonce: Uint8Array, associatedData: Uint8Array): void {
  assertBytes(key, AES_GCM_KEY_LENGTH, operation, 'key');
  assertBytes(nonce, AES_GCM_NONCE_LENGTH, operation, 'nonce');
  assertBytes(associatedData, undefined, operation, 'associatedData');
}
