/**
 * Cryptographic primitives of the Parley client: X25519, Ed25519, SHA-2, HMAC,
 * HKDF, AES-256-GCM and ML-KEM-1024, over raw Uint8Array keys.
 *
 * Each operation runs on the runtime's WebCrypto where it offers the algorithm
 * and on @noble/* otherwise, with short symmetric inputs kept in JavaScript
 * because it is faster there (see `setCryptoBackend`). The module uses no
 * Node-only API, so it runs in browsers, Node >= 20 and Deno. README.md in this
 * folder explains the key choices and the limits of constant-time code and
 * memory wiping in JavaScript.
 */
export { CryptoError } from './errors.ts';
export { randomBytes, wipe, constantTimeEqual } from './bytes.ts';
export type { KeyPair, HashAlgorithm } from './types.ts';
export { setCryptoBackend, type CryptoBackend } from './backend.ts';
export { clearKeyCache } from './key-cache.ts';
export { x25519 } from './x25519.ts';
export { ed25519 } from './ed25519.ts';
export { sha256, sha512, hmac, hkdf } from './hash.ts';
export { aesGcm } from './aes-gcm.ts';
export { mlKem1024 } from './ml-kem.ts';
