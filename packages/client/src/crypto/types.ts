/** A key pair as raw bytes. For Ed25519 the private key is the 32-byte seed of RFC 8032 section 5.1.5. */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export type HashAlgorithm = 'SHA-256' | 'SHA-512';
