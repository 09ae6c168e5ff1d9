/** Shared helpers for the crypto tests: hex codecs, vector loading and backend switching. */
import { readFileSync } from 'node:fs';

import { setCryptoBackend, type CryptoBackend } from '../../src/crypto/index.ts';

/**
 * Backends the known-answer and validation tests run on. 'auto' is included
 * because it has its own path: AES-GCM on short inputs runs in aes-gcm-js.ts.
 */
export const BACKENDS = ['webcrypto', 'noble', 'auto'] as const satisfies readonly CryptoBackend[];

/** Fixed fast-check settings, so a failing case reproduces on every run. */
export const PROPERTY_SETTINGS = { seed: 20_261_204, numRuns: 40 } as const;

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new Error(`invalid hex string of length ${hex.length}`);
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const byte of bytes) {
    hex += byte.toString(16).padStart(2, '0');
  }
  return hex;
}

/** Reads a known-answer vector file from packages/client/vectors/kat. */
export function loadVectors<T>(name: string): T {
  const url = new URL(`../../vectors/kat/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** Runs `operation` with `backend` selected, then restores 'auto'. */
export async function withBackend<T>(backend: CryptoBackend, operation: () => Promise<T>): Promise<T> {
  setCryptoBackend(backend);
  try {
    return await operation();
  } finally {
    setCryptoBackend('auto');
  }
}
