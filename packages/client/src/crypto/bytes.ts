import { CryptoError } from './errors.ts';

/** Largest request that `crypto.getRandomValues` serves in one call (Web Crypto API). */
const MAX_RANDOM_BYTES_PER_CALL = 65_536;

/** Returns `length` bytes from the platform CSPRNG (`crypto.getRandomValues`). */
export function randomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new CryptoError(`randomBytes: length must be a non-negative integer, got ${String(length)}`);
  }

  const output = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_RANDOM_BYTES_PER_CALL) {
    globalThis.crypto.getRandomValues(output.subarray(offset, offset + MAX_RANDOM_BYTES_PER_CALL));
  }
  return output;
}

/**
 * Overwrites each buffer with zeros. Copies made elsewhere (by the engine, a
 * garbage collector that moved the buffer, a caller, or the WebCrypto key
 * cache described in key-cache.ts) are out of reach: see the module README.
 */
export function wipe(...buffers: Uint8Array[]): void {
  for (const buffer of buffers) {
    if (!(buffer instanceof Uint8Array)) {
      throw new CryptoError('wipe: every argument must be a Uint8Array');
    }
    buffer.fill(0);
  }
}

/**
 * Compares two byte arrays in time that depends only on their lengths, not on
 * where they differ. Arrays of different lengths compare unequal at once,
 * because the lengths of keys, tags and MACs are public.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
    throw new CryptoError('constantTimeEqual: both arguments must be Uint8Array');
  }
  if (a.length !== b.length) {
    return false;
  }

  let difference = 0;
  for (let i = 0; i < a.length; i++) {
    difference |= a[i]! ^ b[i]!;
  }
  return difference === 0;
}

/**
 * Checks that `value` is a Uint8Array of `expected` bytes (internal).
 * The error names the operation and the parameter, never the content.
 */
export function assertBytes(value: unknown, expected: number | undefined, operation: string, parameter: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError(`${operation}: ${parameter} must be a Uint8Array, got ${describeType(value)}`);
  }
  if (expected !== undefined && value.length !== expected) {
    throw new CryptoError(`${operation}: ${parameter} must be ${expected} bytes, got ${value.length}`);
  }
}

/** Returns true when every byte is zero, reading all of them (internal). */
export function isAllZero(bytes: Uint8Array): boolean {
  let accumulator = 0;
  for (let i = 0; i < bytes.length; i++) {
    accumulator |= bytes[i]!;
  }
  return accumulator === 0;
}

function describeType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (typeof value === 'object') {
    return value.constructor?.name ?? 'object';
  }
  return typeof value;
}
