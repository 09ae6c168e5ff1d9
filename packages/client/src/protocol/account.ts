/**
 * The local account: the identity key pair and all prekeys with their
 * private halves, as one JSON-safe, versioned state.
 *
 * Identity: Ed25519. The same key signs prekeys and, converted to X25519 with
 * the birational map of RFC 7748 section 4.1, takes part in PQXDH.
 *
 * Every function here is pure: it returns a new state and never changes the
 * state it was given, so a caller commits a new state only after the
 * operation that produced it has succeeded.
 */
import { ed25519, mlKem1024, randomBytes, wipe, x25519 } from '../crypto/index.ts';
import {
  EC_KEY_TYPE,
  KEM_KEY_TYPE,
  MAX_KEY_ID,
  ML_KEM_SEED_BYTES,
  PREKEY_BATCH_SIZE,
  PROTOCOL_VERSION,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATION_MS,
} from './constants.ts';
import { concatBytes, fromBase64Url, toBase64Url } from './encoding.ts';
import { ProtocolError } from './errors.ts';

/** A key pair in JSON-safe form. The private half is secret. */
export interface KeyPairState {
  publicKey: string;
  privateKey: string;
}

export interface SignedPrekeyState extends KeyPairState {
  keyId: number;
  signature: string;
  /** Creation time, milliseconds since the epoch. */
  createdAt: number;
  /** When a newer signed prekey replaced this one, or null for the current one. */
  replacedAt: number | null;
}

export interface OneTimePrekeyState extends KeyPairState {
  keyId: number;
}

/** An ML-KEM-1024 prekey. The private key is kept as its 64-byte FIPS 203 seed (d || z), which is secret. */
export interface KemPrekeyState {
  keyId: number;
  publicKey: string;
  seed: string;
  signature: string;
  createdAt: number;
  replacedAt: number | null;
}

/**
 * Everything secret about the local profile. Never log it or send it; store
 * it only through a Store.
 */
export interface AccountState {
  format: 'parley.account';
  v: 1;
  identity: KeyPairState;
  /** The current signed prekey last, older ones still inside their grace period before it. */
  signedPrekeys: SignedPrekeyState[];
  oneTimePrekeys: OneTimePrekeyState[];
  kemPrekeys: KemPrekeyState[];
  /** The current last-resort KEM prekey last, older ones still inside their grace period before it. */
  lastResortKemPrekeys: KemPrekeyState[];
  nextSignedPrekeyId: number;
  nextOneTimePrekeyId: number;
  /** One-time and last-resort KEM prekeys share one id sequence, so a KEM prekey id names one key. */
  nextKemPrekeyId: number;
}

/** Identity payload of `chat_participants.payload`. */
export interface PublicIdentity {
  v: 1;
  identityKey: string;
}

export interface SignedPrekeyUpload {
  keyId: number;
  publicKey: string;
  signature: string;
}

export interface OneTimePrekeyUpload {
  keyId: number;
  publicKey: string;
}

export type KemPrekeyUpload = SignedPrekeyUpload;

/** The arguments of `publish_prekeys`, in the shapes of docs/formats.md. */
export interface PrekeyUpload {
  signedPrekey: SignedPrekeyUpload;
  oneTimePrekeys: OneTimePrekeyUpload[];
  kemPrekeys: KemPrekeyUpload[];
  lastResortKemPrekey: KemPrekeyUpload;
}

export interface CreateAccountOptions {
  /** Current time in milliseconds since the epoch; defaults to `Date.now()`. */
  now?: number;
  /** One-time EC prekeys to generate; defaults to 100. */
  oneTimePrekeys?: number;
  /** One-time ML-KEM-1024 prekeys to generate; defaults to 100. */
  kemPrekeys?: number;
}

/** Generates a new identity, a signed EC prekey, a last-resort KEM prekey and the first batches of one-time prekeys. */
export async function createAccount(options: CreateAccountOptions = {}): Promise<AccountState> {
  const now = options.now ?? Date.now();
  const identity = await ed25519.generateKeyPair();

  let account: AccountState = {
    format: 'parley.account',
    v: PROTOCOL_VERSION,
    identity: { publicKey: toBase64Url(identity.publicKey), privateKey: toBase64Url(identity.privateKey) },
    signedPrekeys: [],
    oneTimePrekeys: [],
    kemPrekeys: [],
    lastResortKemPrekeys: [],
    nextSignedPrekeyId: 1,
    nextOneTimePrekeyId: 1,
    nextKemPrekeyId: 1,
  };
  wipe(identity.privateKey);

  account = await addSignedPrekey(account, now);
  account = await addLastResortKemPrekey(account, now);
  account = (await generateOneTimePrekeys(account, options.oneTimePrekeys ?? PREKEY_BATCH_SIZE)).account;
  account = (await generateKemPrekeys(account, options.kemPrekeys ?? PREKEY_BATCH_SIZE)).account;
  return account;
}

/** Returns the identity payload to publish as `chat_participants.payload`. */
export function publicIdentity(account: AccountState): PublicIdentity {
  return { v: PROTOCOL_VERSION, identityKey: account.identity.publicKey };
}

/** Returns all public prekey material the account holds, ready for `publish_prekeys`. */
export function exportPrekeys(account: AccountState): PrekeyUpload {
  return {
    signedPrekey: signedUpload(currentOf(account.signedPrekeys, 'signed prekey')),
    oneTimePrekeys: account.oneTimePrekeys.map((key) => ({ keyId: key.keyId, publicKey: key.publicKey })),
    kemPrekeys: account.kemPrekeys.map(signedUpload),
    lastResortKemPrekey: signedUpload(currentOf(account.lastResortKemPrekeys, 'last-resort KEM prekey')),
  };
}

/** Generates `count` one-time EC prekeys with ids after the last issued one. */
export async function generateOneTimePrekeys(
  account: AccountState,
  count: number = PREKEY_BATCH_SIZE,
): Promise<{ account: AccountState; prekeys: OneTimePrekeyUpload[] }> {
  checkBatchSize(count);
  const firstId = account.nextOneTimePrekeyId;
  checkIdRange(firstId, count, 'one-time prekey');

  const created: OneTimePrekeyState[] = [];
  for (let i = 0; i < count; i++) {
    const pair = await x25519.generateKeyPair();
    created.push({ keyId: firstId + i, publicKey: toBase64Url(pair.publicKey), privateKey: toBase64Url(pair.privateKey) });
    wipe(pair.privateKey);
  }

  return {
    account: { ...account, oneTimePrekeys: [...account.oneTimePrekeys, ...created], nextOneTimePrekeyId: firstId + count },
    prekeys: created.map((key) => ({ keyId: key.keyId, publicKey: key.publicKey })),
  };
}

/** Generates `count` signed one-time ML-KEM-1024 prekeys with ids after the last issued KEM prekey. */
export async function generateKemPrekeys(
  account: AccountState,
  count: number = PREKEY_BATCH_SIZE,
): Promise<{ account: AccountState; prekeys: KemPrekeyUpload[] }> {
  checkBatchSize(count);
  const firstId = account.nextKemPrekeyId;
  checkIdRange(firstId, count, 'KEM prekey');

  const created: KemPrekeyState[] = [];
  for (let i = 0; i < count; i++) {
    created.push(await newKemPrekey(account, firstId + i, 0));
  }

  return {
    account: { ...account, kemPrekeys: [...account.kemPrekeys, ...created], nextKemPrekeyId: firstId + count },
    prekeys: created.map(signedUpload),
  };
}

/**
 * Replaces the signed EC prekey and the last-resort KEM prekey when they are
 * older than `rotationMs` (default 7 days), and deletes replaced ones whose
 * grace period (default 30 days) has passed. When `rotated` is true, the
 * caller must publish the new keys.
 */
export async function rotatePrekeys(
  account: AccountState,
  options: { now?: number; rotationMs?: number; graceMs?: number } = {},
): Promise<{ account: AccountState; rotated: boolean }> {
  const now = options.now ?? Date.now();
  const rotationMs = options.rotationMs ?? SIGNED_PREKEY_ROTATION_MS;
  const graceMs = options.graceMs ?? SIGNED_PREKEY_GRACE_MS;
  let next = account;
  let rotated = false;

  if (now - currentOf(next.signedPrekeys, 'signed prekey').createdAt >= rotationMs) {
    next = await addSignedPrekey(next, now);
    rotated = true;
  }
  if (now - currentOf(next.lastResortKemPrekeys, 'last-resort KEM prekey').createdAt >= rotationMs) {
    next = await addLastResortKemPrekey(next, now);
    rotated = true;
  }

  const inGrace = (key: { replacedAt: number | null }) => key.replacedAt === null || now - key.replacedAt < graceMs;
  next = {
    ...next,
    signedPrekeys: next.signedPrekeys.filter(inGrace),
    lastResortKemPrekeys: next.lastResortKemPrekeys.filter(inGrace),
  };
  return { account: next, rotated };
}

/** Encodes an X25519 public key as Signal does: 0x05 || key. This is what a signed EC prekey's signature covers. */
export function encodeEcPublicKey(publicKey: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(EC_KEY_TYPE), publicKey);
}

/** Encodes an ML-KEM-1024 public key as Signal does: 0x08 || key. This is what a KEM prekey's signature covers. */
export function encodeKemPublicKey(publicKey: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(KEM_KEY_TYPE), publicKey);
}

async function addSignedPrekey(account: AccountState, now: number): Promise<AccountState> {
  const keyId = account.nextSignedPrekeyId;
  checkIdRange(keyId, 1, 'signed prekey');

  const pair = await x25519.generateKeyPair();
  const signature = await signWithIdentity(account, encodeEcPublicKey(pair.publicKey));
  const created: SignedPrekeyState = {
    keyId,
    publicKey: toBase64Url(pair.publicKey),
    privateKey: toBase64Url(pair.privateKey),
    signature: toBase64Url(signature),
    createdAt: now,
    replacedAt: null,
  };
  wipe(pair.privateKey);

  return {
    ...account,
    signedPrekeys: [...markReplaced(account.signedPrekeys, now), created],
    nextSignedPrekeyId: keyId + 1,
  };
}

async function addLastResortKemPrekey(account: AccountState, now: number): Promise<AccountState> {
  const keyId = account.nextKemPrekeyId;
  checkIdRange(keyId, 1, 'KEM prekey');

  const created = await newKemPrekey(account, keyId, now);
  return {
    ...account,
    lastResortKemPrekeys: [...markReplaced(account.lastResortKemPrekeys, now), created],
    nextKemPrekeyId: keyId + 1,
  };
}

async function newKemPrekey(account: AccountState, keyId: number, now: number): Promise<KemPrekeyState> {
  const seed = randomBytes(ML_KEM_SEED_BYTES);
  const pair = mlKem1024.generateKeyPair(seed);
  const signature = await signWithIdentity(account, encodeKemPublicKey(pair.publicKey));
  const created: KemPrekeyState = {
    keyId,
    publicKey: toBase64Url(pair.publicKey),
    seed: toBase64Url(seed),
    signature: toBase64Url(signature),
    createdAt: now,
    replacedAt: null,
  };
  wipe(seed, pair.privateKey);
  return created;
}

async function signWithIdentity(account: AccountState, message: Uint8Array): Promise<Uint8Array> {
  const privateKey = fromBase64Url(account.identity.privateKey, 'identity private key');
  try {
    return await ed25519.sign(privateKey, message);
  } finally {
    wipe(privateKey);
  }
}

function markReplaced<T extends { replacedAt: number | null }>(keys: T[], now: number): T[] {
  return keys.map((key) => (key.replacedAt === null ? { ...key, replacedAt: now } : key));
}

function currentOf<T>(keys: T[], what: string): T {
  const current = keys[keys.length - 1];
  if (current === undefined) {
    throw new ProtocolError('invalid_state', `Invalid account state: no current ${what}; restore the account from its store`);
  }
  return current;
}

function signedUpload(key: { keyId: number; publicKey: string; signature: string }): SignedPrekeyUpload {
  return { keyId: key.keyId, publicKey: key.publicKey, signature: key.signature };
}

function checkBatchSize(count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > 1000) {
    throw new ProtocolError('invalid_argument', `Invalid prekey count ${count}: pass an integer from 0 to 1000`);
  }
}

function checkIdRange(firstId: number, count: number, what: string): void {
  if (firstId + count - 1 > MAX_KEY_ID) {
    throw new ProtocolError(
      'invalid_argument',
      `Cannot issue ${count} more ${what} ids after ${firstId - 1}: ids end at ${MAX_KEY_ID}; create a new account`,
    );
  }
}
