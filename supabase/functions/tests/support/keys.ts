/**
 * Real key material for tests: Ed25519 identity keys, X25519 prekeys and
 * ML-KEM-1024 prekeys, each signed as docs/formats.md specifies. Every key
 * derives from a seed string through SHA-256, so a failing run reproduces.
 */
import { ed25519, x25519 } from "npm:@noble/curves@2.4.0/ed25519.js";
import { sha256 } from "npm:@noble/hashes@2.4.0/sha2.js";
import { ml_kem1024 } from "npm:@noble/post-quantum@0.7.1/ml-kem.js";

import { decodeBase64Url, encodeBase64Url, encodeSignedPublicKey } from "../../_shared/keys.ts";

export interface TestIdentity {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  payload: { v: 1; identityKey: string };
}

export interface TestSignedPrekey {
  keyId: number;
  publicKey: string;
  signature: string;
}

export interface TestOneTimePrekey {
  keyId: number;
  publicKey: string;
}

/** Derives `length` deterministic bytes from a label. */
export function seedBytes(label: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let counter = 0;

  for (let offset = 0; offset < length; offset += 32) {
    const block = sha256(new TextEncoder().encode(`${label}/${counter}`));
    out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    counter += 1;
  }

  return out;
}

export function createIdentity(seed: string): TestIdentity {
  const { secretKey, publicKey } = ed25519.keygen(seedBytes(`identity/${seed}`, 32));
  return { secretKey, publicKey, payload: { v: 1, identityKey: encodeBase64Url(publicKey) } };
}

export function createSignedPrekey(identity: TestIdentity, keyId: number, seed: string): TestSignedPrekey {
  const { publicKey } = x25519.keygen(seedBytes(`signed/${seed}/${keyId}`, 32));
  const signature = ed25519.sign(encodeSignedPublicKey("x25519", publicKey), identity.secretKey);
  return { keyId, publicKey: encodeBase64Url(publicKey), signature: encodeBase64Url(signature) };
}

export function createOneTimePrekeys(firstKeyId: number, count: number, seed: string): TestOneTimePrekey[] {
  return Array.from({ length: count }, (_, index) => {
    const keyId = firstKeyId + index;
    const { publicKey } = x25519.keygen(seedBytes(`one-time/${seed}/${keyId}`, 32));
    return { keyId, publicKey: encodeBase64Url(publicKey) };
  });
}

/** ML-KEM-1024 key generation costs milliseconds, so generated public keys are cached per seed. */
const kemPublicKeys = new Map<string, Uint8Array>();

function kemPublicKey(seed: string): Uint8Array {
  let publicKey = kemPublicKeys.get(seed);

  if (publicKey === undefined) {
    publicKey = ml_kem1024.keygen(seedBytes(`kem/${seed}`, 64)).publicKey;
    kemPublicKeys.set(seed, publicKey);
  }

  return publicKey;
}

export function createKemPrekey(identity: TestIdentity, keyId: number, seed: string): TestSignedPrekey {
  const publicKey = kemPublicKey(`${seed}/${keyId}`);
  const signature = ed25519.sign(encodeSignedPublicKey("mlKem1024", publicKey), identity.secretKey);
  return { keyId, publicKey: encodeBase64Url(publicKey), signature: encodeBase64Url(signature) };
}

export function createKemPrekeys(
  identity: TestIdentity,
  firstKeyId: number,
  count: number,
  seed: string,
): TestSignedPrekey[] {
  return Array.from({ length: count }, (_, index) => createKemPrekey(identity, firstKeyId + index, seed));
}

/** Returns a copy of a base64url value with one bit of its first byte flipped. */
export function flipFirstBit(value: string): string {
  const bytes = decodeBase64Url(value);
  if (bytes === undefined) {
    throw new Error(`not canonical base64url: ${value}`);
  }

  bytes[0] = bytes[0]! ^ 0x01;
  return encodeBase64Url(bytes);
}
