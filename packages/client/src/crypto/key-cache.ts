/**
 * Cache of WebCrypto keys imported from raw X25519 and Ed25519 key bytes
 * (internal, except `clearKeyCache`).
 *
 * Node 20 imports a raw private key only through PKCS#8, which costs about
 * 400 µs per call (measured on the benchmark machine, see bench/RESULTS.md),
 * four times the X25519 operation itself. Protocol code keeps keys as bytes
 * and uses each private key more than once (identity and prekeys for every
 * session, each ratchet key twice), so a key imported or generated here is
 * kept for its next use.
 *
 * Entries are found by content, so a copy of the same key bytes hits the same
 * entry. Private keys are looked up by SHA-256 of the key with a domain
 * label, never by the key itself, and the imported CryptoKeys are not
 * extractable. Both caches are bounded and evict the least recently used
 * entry first.
 *
 * NOTE: `wipe()` on a private key does not evict its cached CryptoKey, because
 * protocol code wipes each decoded copy right after use while the key itself
 * stays in its state. Up to MAX_CACHED_PRIVATE_KEYS recently used private keys
 * therefore stay in the runtime's key store after the caller dropped them.
 * Call `clearKeyCache()` to drop them all, for example when a profile signs out.
 */
import { sha256 } from '@noble/hashes/sha2.js';

/** Private keys kept: enough for a few dozen active sessions' identity, prekey and ratchet keys. */
export const MAX_CACHED_PRIVATE_KEYS = 32;

/** Public keys kept: contacts' identity keys and the latest ratchet keys. */
export const MAX_CACHED_PUBLIC_KEYS = 64;

type CachedAlgorithm = 'X25519' | 'Ed25519';

// Entries are promises, so concurrent uses of one new key (PQXDH runs its DH
// steps at once, three of them with the same base key) share one import.
const privateKeys = new Map<string, Promise<CryptoKey>>();
const publicKeys = new Map<string, Promise<CryptoKey>>();

const encoder = new TextEncoder();
const PRIVATE_LABEL = { X25519: encoder.encode('parley key cache X25519'), Ed25519: encoder.encode('parley key cache Ed25519') } as const;

/** Returns the cached private CryptoKey for these bytes, or imports, caches and returns it. */
export async function privateCryptoKey(
  algorithm: CachedAlgorithm,
  privateKey: Uint8Array,
  importKey: () => Promise<CryptoKey>,
): Promise<CryptoKey> {
  return lookUpOrImport(privateKeys, privateKeyId(algorithm, privateKey), importKey, MAX_CACHED_PRIVATE_KEYS);
}

/** Stores a private CryptoKey that was generated together with these bytes. */
export function rememberPrivateKey(algorithm: CachedAlgorithm, privateKey: Uint8Array, key: CryptoKey): void {
  insert(privateKeys, privateKeyId(algorithm, privateKey), Promise.resolve(key), MAX_CACHED_PRIVATE_KEYS);
}

/** Returns the cached public CryptoKey for these bytes, or imports, caches and returns it. */
export async function publicCryptoKey(
  algorithm: CachedAlgorithm,
  publicKey: Uint8Array,
  importKey: () => Promise<CryptoKey>,
): Promise<CryptoKey> {
  return lookUpOrImport(publicKeys, algorithm + ':' + toHex(publicKey), importKey, MAX_CACHED_PUBLIC_KEYS);
}

/** Drops every cached WebCrypto key, private and public. */
export function clearKeyCache(): void {
  privateKeys.clear();
  publicKeys.clear();
}

/** Number of cached private and public keys (for tests). */
export function keyCacheSize(): { privateKeys: number; publicKeys: number } {
  return { privateKeys: privateKeys.size, publicKeys: publicKeys.size };
}

function privateKeyId(algorithm: CachedAlgorithm, privateKey: Uint8Array): string {
  const label = PRIVATE_LABEL[algorithm];
  const input = new Uint8Array(label.length + privateKey.length);
  input.set(label, 0);
  input.set(privateKey, label.length);

  const digest = sha256(input);
  input.fill(0);
  return algorithm + ':' + toHex(digest);
}

/** Returns the cached or pending import of `id`, or starts one; a failed import leaves no entry. */
function lookUpOrImport(
  cache: Map<string, Promise<CryptoKey>>,
  id: string,
  importKey: () => Promise<CryptoKey>,
  capacity: number,
): Promise<CryptoKey> {
  const cached = takeAndRefresh(cache, id);
  if (cached !== undefined) {
    return cached;
  }

  const pending = importKey();
  insert(cache, id, pending, capacity);
  pending.catch(() => {
    if (cache.get(id) === pending) {
      cache.delete(id);
    }
  });
  return pending;
}

// A Map iterates in insertion order, so re-inserting on every hit keeps the
// least recently used entry first.
function takeAndRefresh(cache: Map<string, Promise<CryptoKey>>, id: string): Promise<CryptoKey> | undefined {
  const key = cache.get(id);
  if (key !== undefined) {
    cache.delete(id);
    cache.set(id, key);
  }
  return key;
}

function insert(cache: Map<string, Promise<CryptoKey>>, id: string, key: Promise<CryptoKey>, capacity: number): void {
  cache.delete(id);
  cache.set(id, key);

  while (cache.size > capacity) {
    const oldest = cache.keys().next().value as string;
    cache.delete(oldest);
  }
}

function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) {
    hex += (bytes[i]! < 16 ? '0' : '') + bytes[i]!.toString(16);
  }
  return hex;
}
