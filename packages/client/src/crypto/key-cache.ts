/**
 * Cache of WebCrypto keys imported from raw key bytes (internal).
 *
 * Importing a key is an extra round trip through the runtime's crypto worker,
 * and identity keys, signed prekeys and ratchet keys are used more than once.
 * An entry is keyed by the caller's Uint8Array object and keeps a copy of the
 * bytes it was imported from. A lookup compares the copy with the current
 * bytes, so a buffer that was changed or wiped in place never reuses a stale
 * key. The WeakMap lets an entry go when its buffer is garbage collected, and
 * `wipe()` removes it at once.
 */

interface CachedKey {
  snapshot: Uint8Array;
  key: CryptoKey;
}

const caches = new Map<string, WeakMap<Uint8Array, CachedKey>>();

/** Returns the cached key for `bytes` under `usage`, if its bytes are unchanged. */
export function lookupCachedKey(usage: string, bytes: Uint8Array): CryptoKey | undefined {
  const entry = caches.get(usage)?.get(bytes);
  if (entry === undefined) {
    return undefined;
  }
  if (!sameBytes(entry.snapshot, bytes)) {
    entry.snapshot.fill(0);
    caches.get(usage)?.delete(bytes);
    return undefined;
  }
  return entry.key;
}

export function storeCachedKey(usage: string, bytes: Uint8Array, key: CryptoKey): void {
  let cache = caches.get(usage);
  if (cache === undefined) {
    cache = new WeakMap();
    caches.set(usage, cache);
  }
  cache.set(bytes, { snapshot: bytes.slice(), key });
}

/** Drops every cached key imported from `bytes` and zeroes the copies. */
export function forgetCachedKey(bytes: Uint8Array): void {
  for (const cache of caches.values()) {
    const entry = cache.get(bytes);
    if (entry !== undefined) {
      entry.snapshot.fill(0);
      cache.delete(bytes);
    }
  }
}

// Constant time in the content: the snapshot may be secret key material.
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    return false;
  }
  let difference = 0;
  for (let i = 0; i < a.length; i++) {
    difference |= a[i]! ^ b[i]!;
  }
  return difference === 0;
}
