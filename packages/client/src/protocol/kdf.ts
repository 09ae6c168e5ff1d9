/**
 * The KDF chains and the message AEAD of the Double Ratchet
 * (Signal's Double Ratchet specification, revision 1 of 2016-11-20, sections 2.2 to 2.4 and 5.2).
 *
 * Internal to the SDK; exported for the fixed vectors in the tests.
 */
import { aesGcm, hkdf, hmac, wipe } from '../crypto/index.ts';
import { MESSAGE_KEY_INFO, ROOT_KDF_INFO } from './constants.ts';
import { utf8 } from './encoding.ts';

const ROOT_INFO_BYTES = utf8(ROOT_KDF_INFO);
const MESSAGE_INFO_BYTES = utf8(MESSAGE_KEY_INFO);
const MESSAGE_KEY_CONSTANT = Uint8Array.of(0x01);
const CHAIN_KEY_CONSTANT = Uint8Array.of(0x02);
const ZERO_SALT = new Uint8Array(32);

/** `KDF_RK(rk, dh_out)`: HKDF-SHA-256 with the root key as salt; returns the next root key and a chain key. */
export async function kdfRk(rootKey: Uint8Array, dhOutput: Uint8Array): Promise<{ rootKey: Uint8Array; chainKey: Uint8Array }> {
  const output = await hkdf('SHA-256', dhOutput, rootKey, ROOT_INFO_BYTES, 64);
  const result = { rootKey: output.slice(0, 32), chainKey: output.slice(32, 64) };
  wipe(output);
  return result;
}

/** `KDF_CK(ck)`: HMAC-SHA-256 keyed with the chain key over 0x01 (message key) and 0x02 (next chain key). */
export async function kdfCk(chainKey: Uint8Array): Promise<{ chainKey: Uint8Array; messageKey: Uint8Array }> {
  const [messageKey, nextChainKey] = await Promise.all([
    hmac('SHA-256', chainKey, MESSAGE_KEY_CONSTANT),
    hmac('SHA-256', chainKey, CHAIN_KEY_CONSTANT),
  ]);
  return { chainKey: nextChainKey, messageKey };
}

/**
 * Derives the AES-256-GCM key and nonce from a message key: HKDF-SHA-256
 * with a zero salt, 44 bytes of output split 32 + 12. Each message key
 * encrypts exactly one message, so a nonce derived from it never repeats
 * under its key.
 */
export async function messageKeyMaterial(messageKey: Uint8Array): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
  const output = await hkdf('SHA-256', messageKey, ZERO_SALT, MESSAGE_INFO_BYTES, 44);
  const result = { key: output.slice(0, 32), nonce: output.slice(32, 44) };
  wipe(output);
  return result;
}

/** `ENCRYPT(mk, plaintext, associated_data)` with AES-256-GCM. */
export async function encryptWithMessageKey(
  messageKey: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
): Promise<Uint8Array> {
  const { key, nonce } = await messageKeyMaterial(messageKey);
  try {
    return await aesGcm.encrypt(key, nonce, plaintext, associatedData);
  } finally {
    wipe(key, nonce);
  }
}

/** `DECRYPT(mk, ciphertext, associated_data)`; throws the primitives' CryptoError when authentication fails. */
export async function decryptWithMessageKey(
  messageKey: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Promise<Uint8Array> {
  const { key, nonce } = await messageKeyMaterial(messageKey);
  try {
    return await aesGcm.decrypt(key, nonce, ciphertext, associatedData);
  } finally {
    wipe(key, nonce);
  }
}
