/**
 * Runs code with deterministic randomness: the @noble backend of the crypto
 * module and `crypto.getRandomValues` replaced by a seeded generator. Only
 * for generating and checking fixed vectors.
 */
import { setCryptoBackend } from '../../src/crypto/index.ts';
import { SeededBytes } from './helpers.ts';

export async function withSeededRandomness<T>(seed: string, run: () => Promise<T>): Promise<T> {
  const cryptoObject = globalThis.crypto;
  const original = cryptoObject.getRandomValues;
  const bytes = new SeededBytes(seed);

  setCryptoBackend('noble');
  Object.defineProperty(cryptoObject, 'getRandomValues', {
    value: <V extends ArrayBufferView | null>(array: V) => bytes.fill(array),
    configurable: true,
    writable: true,
  });
  try {
    return await run();
  } finally {
    // Drop the own property so the prototype method applies as before.
    delete (cryptoObject as { getRandomValues?: unknown }).getRandomValues;
    if (cryptoObject.getRandomValues !== original) {
      Object.defineProperty(cryptoObject, 'getRandomValues', { value: original, configurable: true, writable: true });
    }
    setCryptoBackend('auto');
  }
}
