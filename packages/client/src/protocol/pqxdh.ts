/**
 * PQXDH key agreement (Signal's PQXDH specification, revision 1 of 2023-05-24) with
 * X25519, ML-KEM-1024 and HKDF-SHA-256.
 *
 * Parameters (section 2.1): info "Parley_CURVE25519_SHA-256_ML-KEM-1024";
 * EncodeEC(k) = 0x05 || k; EncodeKEM(k) = 0x08 || k. The identity keys are
 * Ed25519 and enter the DH steps after conversion to X25519. The associated
 * data, IK_A || IK_B as the two raw Ed25519 identity keys (64 bytes), is
 * built by the session module and authenticated with every message.
 *
 * Internal to the SDK: callers use the session functions.
 */
import { z } from 'zod';

import { CryptoError, ed25519, hkdf, mlKem1024, wipe, x25519 } from '../crypto/index.ts';
import { encodeEcPublicKey, encodeKemPublicKey, type AccountState, type KeyPairState } from './account.ts';
import {
  ED25519_PUBLIC_KEY_BYTES,
  MAX_KEY_ID,
  ML_KEM_1024_PUBLIC_KEY_BYTES,
  PQXDH_INFO,
  PROTOCOL_VERSION,
  SIGNATURE_BYTES,
} from './constants.ts';
import { describeIssues, x25519PublicKey, type PrekeyEnvelope } from './envelope.ts';
import { base64UrlLength, concatBytes, fromBase64Url, fromBase64UrlOrNull, toBase64Url, utf8 } from './encoding.ts';
import { ProtocolError } from './errors.ts';

/** A prekey bundle as `claim_prekey_bundle` returns it (docs/formats.md). */
export interface PrekeyBundle {
  profile: string;
  identity: { v: 1; identityKey: string };
  signedPrekey: { keyId: number; publicKey: string; signature: string };
  oneTimePrekey: { keyId: number; publicKey: string } | null;
  kemPrekey: { keyId: number; publicKey: string; signature: string; lastResort: boolean };
}

/** The PQXDH data a first message carries, which the responder needs to derive the session. */
export interface Initiation {
  identityKey: string;
  baseKey: string;
  signedPrekeyId: number;
  oneTimePrekeyId: number | null;
  kemPrekeyId: number;
  kemCiphertext: string;
}

/** The result of PQXDH on either side: `SK`, the root key of the Double Ratchet. */
export interface AgreedSecret {
  sharedKey: Uint8Array;
}

function fixedBytes(byteLength: number, what: string) {
  const length = base64UrlLength(byteLength);
  return z.string().refine((value) => value.length === length && fromBase64UrlOrNull(value) !== null, {
    message: `must be ${what}: ${length} characters of base64url without padding (${byteLength} bytes)`,
  });
}

const keyId = z.number().int().min(1).max(MAX_KEY_ID, { message: `must be an integer from 1 to ${MAX_KEY_ID}` });
const signature = fixedBytes(SIGNATURE_BYTES, 'an Ed25519 signature');

const bundleSchema = z.strictObject({
  profile: z.string().regex(/^[a-z0-9][a-z0-9._-]{2,63}$/, { message: 'must be a profile name (3 to 64 of a-z 0-9 . _ -)' }),
  identity: z.strictObject({
    v: z.literal(PROTOCOL_VERSION),
    identityKey: fixedBytes(ED25519_PUBLIC_KEY_BYTES, 'an Ed25519 public key'),
  }),
  signedPrekey: z.strictObject({ keyId, publicKey: x25519PublicKey(), signature }),
  oneTimePrekey: z.strictObject({ keyId, publicKey: x25519PublicKey() }).nullable(),
  kemPrekey: z.strictObject({
    keyId,
    publicKey: fixedBytes(ML_KEM_1024_PUBLIC_KEY_BYTES, 'an ML-KEM-1024 public key'),
    signature,
    lastResort: z.boolean(),
  }),
});

/** Parses a prekey bundle strictly; throws `invalid_bundle` naming each wrong field. */
export function parseBundle(input: unknown): PrekeyBundle {
  const result = bundleSchema.safeParse(input);
  if (!result.success) {
    throw new ProtocolError('invalid_bundle', `Invalid prekey bundle: ${describeIssues(result.error)}`);
  }
  return result.data as PrekeyBundle;
}

/** Section 3.3: verifies both prekey signatures of a bundle; throws `invalid_signature` before any key is used. */
export async function verifyBundle(bundle: PrekeyBundle): Promise<void> {
  const identityKey = fromBase64Url(bundle.identity.identityKey, 'identity key');
  const checks: Array<[string, Uint8Array, string]> = [
    ['signed prekey', encodeEcPublicKey(fromBase64Url(bundle.signedPrekey.publicKey, 'signed prekey')), bundle.signedPrekey.signature],
    ['KEM prekey', encodeKemPublicKey(fromBase64Url(bundle.kemPrekey.publicKey, 'KEM prekey')), bundle.kemPrekey.signature],
  ];

  const results = await Promise.all(
    checks.map(([what, message, signatureText]) => ed25519.verify(identityKey, message, fromBase64Url(signatureText, `${what} signature`))),
  );
  for (const [index, [what]] of checks.entries()) {
    if (!results[index]) {
      throw new ProtocolError(
        'invalid_signature',
        `Invalid ${what} signature in the bundle of "${bundle.profile}": session setup stopped; the bundle was altered or the profile published bad keys`,
      );
    }
  }
}

/**
 * Section 3.3, the initiator's side: verifies the bundle, then derives `SK`
 * from DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
 * DH4 = DH(EK_A, OPK_B) when a one-time prekey was present, and the KEM
 * shared secret for PQPK_B.
 */
export async function agreeAsInitiator(
  account: AccountState,
  bundle: PrekeyBundle,
): Promise<AgreedSecret & { initiation: Initiation }> {
  await verifyBundle(bundle);

  const remoteIdentityPublic = fromBase64Url(bundle.identity.identityKey, 'identity key');
  const identityPrivate = fromBase64Url(account.identity.privateKey, 'identity private key');
  const identityX25519 = ed25519.privateKeyToX25519(identityPrivate);
  wipe(identityPrivate);

  const signedPrekey = fromBase64Url(bundle.signedPrekey.publicKey, 'signed prekey');
  const ephemeral = await x25519.generateKeyPair();
  const secrets: Uint8Array[] = [];
  let dhOutputs: Promise<Uint8Array[]> | undefined;

  try {
    const remoteIdentityX25519 = publicIdentityToX25519(remoteIdentityPublic, 'invalid_bundle');
    const pairs: DhPair[] = [
      [identityX25519, signedPrekey],
      [ephemeral.privateKey, remoteIdentityX25519],
      [ephemeral.privateKey, signedPrekey],
    ];
    if (bundle.oneTimePrekey !== null) {
      pairs.push([ephemeral.privateKey, fromBase64Url(bundle.oneTimePrekey.publicKey, 'one-time prekey')]);
    }

    // The DH steps may run on WebCrypto's worker threads, so ML-KEM runs on this thread meanwhile.
    dhOutputs = agreeAll(pairs, 'invalid_bundle');
    const encapsulation = encapsulateOrFail(fromBase64Url(bundle.kemPrekey.publicKey, 'KEM prekey'));
    secrets.push(...(await dhOutputs), encapsulation.sharedSecret);

    const sharedKey = await deriveSharedKey(secrets);
    return {
      sharedKey,
      initiation: {
        identityKey: account.identity.publicKey,
        baseKey: toBase64Url(ephemeral.publicKey),
        signedPrekeyId: bundle.signedPrekey.keyId,
        oneTimePrekeyId: bundle.oneTimePrekey?.keyId ?? null,
        kemPrekeyId: bundle.kemPrekey.keyId,
        kemCiphertext: toBase64Url(encapsulation.cipherText),
      },
    };
  } finally {
    // Section 3.3: the initiator deletes its ephemeral private key and the DH outputs, once no DH step still reads them.
    await dhOutputs?.catch(() => undefined);
    wipe(identityX25519, ephemeral.privateKey, ...secrets);
  }
}

/** The responder's prekey private halves that a first message names. */
export interface ResponderKeys {
  signedPrekey: KeyPairState;
  oneTimePrekey: KeyPairState | null;
  /** FIPS 203 seed of the KEM prekey. */
  kemSeed: string;
  /** Public key of the KEM prekey, part of its decapsulation key. */
  kemPublicKey: string;
}

/**
 * Section 3.4, the responder's side: repeats the DH and KEM steps with the
 * private halves named by the first message and derives the same `SK`.
 */
export async function agreeAsResponder(account: AccountState, envelope: PrekeyEnvelope, keys: ResponderKeys): Promise<AgreedSecret> {
  const remoteIdentityPublic = fromBase64Url(envelope.identityKey, 'identity key');
  const identityPrivate = fromBase64Url(account.identity.privateKey, 'identity private key');
  const identityX25519 = ed25519.privateKeyToX25519(identityPrivate);
  wipe(identityPrivate);

  const baseKey = fromBase64Url(envelope.baseKey, 'base key');
  const signedPrekeyPrivate = fromBase64Url(keys.signedPrekey.privateKey, 'signed prekey private key');
  const oneTimePrivate = keys.oneTimePrekey === null ? null : fromBase64Url(keys.oneTimePrekey.privateKey, 'one-time prekey private key');
  const kemSeed = fromBase64Url(keys.kemSeed, 'KEM prekey seed');
  const secrets: Uint8Array[] = [];
  let kemPrivate: Uint8Array | null = null;
  let dhOutputs: Promise<Uint8Array[]> | undefined;

  try {
    const remoteIdentityX25519 = publicIdentityToX25519(remoteIdentityPublic, 'decryption_failed');
    // The prekeys' own public keys let WebCrypto import their private halves cheaply (see x25519.sharedSecret).
    const signedPrekeyPublic = fromBase64Url(keys.signedPrekey.publicKey, 'signed prekey');
    const pairs: DhPair[] = [
      [signedPrekeyPrivate, remoteIdentityX25519, signedPrekeyPublic],
      [identityX25519, baseKey],
      [signedPrekeyPrivate, baseKey, signedPrekeyPublic],
    ];
    if (oneTimePrivate !== null) {
      pairs.push([oneTimePrivate, baseKey, fromBase64Url(keys.oneTimePrekey!.publicKey, 'one-time prekey')]);
    }

    // As on the initiator's side, ML-KEM runs while the DH steps may run on worker threads.
    dhOutputs = agreeAll(pairs, 'decryption_failed');
    kemPrivate = mlKem1024.decapsulationKeyFromSeed(kemSeed, fromBase64Url(keys.kemPublicKey, 'KEM prekey'));
    const kemSecret = mlKem1024.decapsulate(fromBase64Url(envelope.kemCiphertext, 'KEM ciphertext'), kemPrivate);
    secrets.push(...(await dhOutputs), kemSecret);

    return { sharedKey: await deriveSharedKey(secrets) };
  } finally {
    await dhOutputs?.catch(() => undefined);
    wipe(identityX25519, signedPrekeyPrivate, kemSeed, ...secrets);
    if (oneTimePrivate !== null) {
      wipe(oneTimePrivate);
    }
    if (kemPrivate !== null) {
      wipe(kemPrivate);
    }
  }
}

const PQXDH_INFO_BYTES = utf8(PQXDH_INFO);

/** Section 2.2: SK = HKDF-SHA-256(F || KM) with F = 32 bytes of 0xFF and a 32-byte zero salt. */
async function deriveSharedKey(secrets: Uint8Array[]): Promise<Uint8Array> {
  const keyMaterial = concatBytes(new Uint8Array(32).fill(0xff), ...secrets);
  try {
    return await hkdf('SHA-256', keyMaterial, new Uint8Array(32), PQXDH_INFO_BYTES, 32);
  } finally {
    wipe(keyMaterial);
  }
}

function publicIdentityToX25519(publicKey: Uint8Array, code: 'invalid_bundle' | 'decryption_failed'): Uint8Array {
  try {
    return ed25519.publicKeyToX25519(publicKey);
  } catch (error) {
    throw keyError(error, code, 'the identity key is not a valid Ed25519 public key');
  }
}

/** A DH step: own private key, the other party's public key, and the own public key when known. */
type DhPair = [privateKey: Uint8Array, publicKey: Uint8Array, ownPublicKey?: Uint8Array];

/**
 * Starts all DH steps at once and returns their outputs in order. The
 * returned promise is marked as handled, so a caller that throws before
 * awaiting it causes no unhandled rejection.
 */
function agreeAll(pairs: DhPair[], code: 'invalid_bundle' | 'decryption_failed'): Promise<Uint8Array[]> {
  const outputs = Promise.all(pairs.map(([privateKey, publicKey, ownPublicKey]) => agree(privateKey, publicKey, ownPublicKey, code)));
  outputs.catch(() => undefined);
  return outputs;
}

function encapsulateOrFail(publicKey: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
  try {
    return mlKem1024.encapsulate(publicKey);
  } catch (error) {
    throw keyError(error, 'invalid_bundle', 'the KEM prekey is not a valid ML-KEM-1024 encapsulation key');
  }
}

async function agree(
  privateKey: Uint8Array,
  publicKey: Uint8Array,
  ownPublicKey: Uint8Array | undefined,
  code: 'invalid_bundle' | 'decryption_failed',
): Promise<Uint8Array> {
  try {
    return await x25519.sharedSecret(privateKey, publicKey, ownPublicKey);
  } catch (error) {
    throw keyError(error, code, 'a public key is not a valid X25519 key');
  }
}

function keyError(error: unknown, code: 'invalid_bundle' | 'decryption_failed', reason: string): unknown {
  if (!(error instanceof CryptoError)) {
    return error;
  }
  const prefix = code === 'invalid_bundle' ? 'Invalid prekey bundle' : 'Decryption failed';
  return new ProtocolError(code, `${prefix}: ${reason}`);
}
