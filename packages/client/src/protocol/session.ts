/**
 * Sessions with one contact: starting one from a prekey bundle (PQXDH, as
 * initiator), accepting one from a first message (as responder), and
 * encrypting and decrypting envelopes with the Double Ratchet.
 *
 * All functions are pure: they return new account and session states and
 * leave their inputs unchanged, so when a call throws, nothing changed. A
 * caller persists the returned states (and the plaintext) in one Store
 * transaction before acknowledging the topic.
 */
import { wipe } from '../crypto/index.ts';
import type { AccountState, KemPrekeyState } from './account.ts';
import { MAX_PLAINTEXT_BYTES, MAX_PREVIOUS_SESSIONS, PROTOCOL_VERSION, SIGNED_PREKEY_GRACE_MS } from './constants.ts';
import { fromBase64Url, toBase64Url, utf8 } from './encoding.ts';
import { parseEnvelope, type Envelope, type MessageEnvelope, type PrekeyEnvelope } from './envelope.ts';
import { ProtocolError } from './errors.ts';
import { checkIdentity, type IdentityPolicy } from './identity.ts';
import { agreeAsInitiator, agreeAsResponder, parseBundle, type Initiation, type ResponderKeys } from './pqxdh.ts';
import { initializeInitiator, initializeResponder, ratchetDecrypt, ratchetEncrypt, type RatchetState } from './ratchet.ts';

/** One Double Ratchet session with a contact. Secret. */
export interface SessionState {
  role: 'initiator' | 'responder';
  /** Own Ed25519 identity key when the session started. */
  localIdentityKey: string;
  /** The contact's Ed25519 identity key. */
  remoteIdentityKey: string;
  /**
   * The PQXDH data of the first message. The initiator repeats it in every
   * message until the first reply arrives, so a lost first message does not
   * break the session. The responder keeps it to recognize those repeats.
   */
  initiation: Initiation | null;
  /** True on the initiator's side until a message from the contact decrypted. */
  awaitingReply: boolean;
  ratchet: RatchetState;
  /** Creation time, milliseconds since the epoch. */
  createdAt: number;
}

/**
 * All sessions with one contact: the current one first, then up to four
 * earlier ones, which still decrypt late messages. Secret; store it through
 * a Store, never log it.
 */
export interface SessionRecord {
  format: 'parley.session';
  v: 1;
  sessions: SessionState[];
}

export interface IdentityOptions {
  /**
   * The contact's identity key as the app trusts it (for example after the
   * user compared safety numbers). Defaults to the identity of the current
   * session in `record`.
   */
  knownIdentityKey?: string | null;
  /** Policy for a changed identity key of the contact, `reject` by default. */
  identityPolicy?: IdentityPolicy;
}

export interface InitiateSessionOptions extends IdentityOptions {
  /** Existing sessions with this contact; the new session becomes their current one. */
  record?: SessionRecord | null;
  now?: number;
}

export interface InitiateSessionResult {
  record: SessionRecord;
  /** True when the bundle's identity differs from the known one and the policy accepted it. */
  identityChanged: boolean;
}

export interface EncryptResult {
  /** A `prekey` envelope until the contact replied, then a `message` envelope. */
  envelope: Envelope;
  record: SessionRecord;
}

export interface DecryptOptions extends IdentityOptions {
  now?: number;
}

export interface DecryptResult {
  plaintext: Uint8Array;
  record: SessionRecord;
  /** The account without the one-time prekeys this message used; the same object when none was used. */
  account: AccountState;
  /** True when one-time prekeys were used, so `account` must be stored. */
  accountChanged: boolean;
  /** True when this message started a new session. */
  sessionCreated: boolean;
  /** True when the message came with a changed identity key that the policy accepted. */
  identityChanged: boolean;
}

/** Returns an empty record for a contact without sessions. */
export function emptySessionRecord(): SessionRecord {
  return { format: 'parley.session', v: PROTOCOL_VERSION, sessions: [] };
}

/**
 * Starts a session from a prekey bundle (PQXDH as initiator). Parses the
 * bundle strictly, checks the contact's identity against the known one, and
 * verifies both prekey signatures before using any key.
 */
export async function initiateSession(
  account: AccountState,
  bundleInput: unknown,
  options: InitiateSessionOptions = {},
): Promise<InitiateSessionResult> {
  const bundle = parseBundle(bundleInput);
  const record = options.record ?? emptySessionRecord();
  const remoteIdentityKey = bundle.identity.identityKey;
  const known = options.knownIdentityKey !== undefined ? options.knownIdentityKey : currentIdentity(record);
  const status = checkIdentity(known, remoteIdentityKey, options.identityPolicy ?? 'reject');

  const agreed = await agreeAsInitiator(account, bundle);
  const signedPrekey = fromBase64Url(bundle.signedPrekey.publicKey, 'signed prekey');
  try {
    const ratchet = await initializeInitiator(agreed.sharedKey, signedPrekey);
    const session: SessionState = {
      role: 'initiator',
      localIdentityKey: account.identity.publicKey,
      remoteIdentityKey,
      initiation: agreed.initiation,
      awaitingReply: true,
      ratchet,
      createdAt: options.now ?? Date.now(),
    };
    return { record: withCurrent(record, session), identityChanged: status === 'changed' };
  } finally {
    wipe(agreed.sharedKey);
  }
}

/** Encrypts a message with the current session of `record`. */
export async function encryptMessage(record: SessionRecord, plaintext: Uint8Array | string): Promise<EncryptResult> {
  const session = record.sessions[0];
  if (session === undefined) {
    throw new ProtocolError('no_session', 'No session with this contact: call initiateSession with their prekey bundle first');
  }

  const bytes = typeof plaintext === 'string' ? utf8(plaintext) : plaintext;
  if (bytes.length > MAX_PLAINTEXT_BYTES) {
    throw new ProtocolError('invalid_argument', `Plaintext of ${bytes.length} bytes is too large: the limit is ${MAX_PLAINTEXT_BYTES} bytes`);
  }

  const encrypted = await ratchetEncrypt(session.ratchet, bytes, associatedDataOf(session));
  const message = {
    v: PROTOCOL_VERSION as 1,
    ratchetKey: encrypted.header.ratchetKey,
    previousCounter: encrypted.header.previousCounter,
    counter: encrypted.header.counter,
    ciphertext: toBase64Url(encrypted.ciphertext),
  };

  let envelope: Envelope;
  if (session.awaitingReply && session.initiation !== null) {
    envelope = { ...message, type: 'prekey', ...session.initiation };
  } else {
    envelope = { ...message, type: 'message' };
  }

  const sessions = record.sessions.slice();
  sessions[0] = { ...session, ratchet: encrypted.state };
  return { envelope, record: { ...record, sessions } };
}

/**
 * Decrypts an envelope, given as JSON text, a parsed payload or an Envelope
 * (it is checked with `parseEnvelope` either way). A `prekey` envelope
 * either continues the session it started (a repeat from the same
 * initiator) or starts a new one with this account's prekeys. Throws
 * ProtocolError; on any error the inputs stay valid and unchanged.
 */
export async function decryptEnvelope(
  account: AccountState,
  record: SessionRecord | null,
  input: Envelope | unknown,
  options: DecryptOptions = {},
): Promise<DecryptResult> {
  const envelope = parseEnvelope(input);
  const current = record ?? emptySessionRecord();
  if (envelope.type === 'prekey') {
    return decryptPrekeyEnvelope(account, current, envelope, options);
  }
  return decryptMessageEnvelope(account, current, envelope, options);
}

async function decryptMessageEnvelope(
  account: AccountState,
  record: SessionRecord,
  envelope: MessageEnvelope,
  options: DecryptOptions,
): Promise<DecryptResult> {
  const first = record.sessions[0];
  if (first === undefined) {
    throw new ProtocolError('no_session', 'No session with this contact: the first message of the session has not been received');
  }
  const status = checkIdentity(options.knownIdentityKey, first.remoteIdentityKey, options.identityPolicy ?? 'reject');

  // Try the current session first, then the earlier ones; promote the one that decrypts.
  let firstError: unknown;
  let duplicate: ProtocolError | undefined;
  for (let index = 0; index < record.sessions.length; index++) {
    const session = record.sessions[index]!;
    try {
      const { plaintext, session: next } = await decryptWithSession(session, envelope);
      return {
        plaintext,
        record: promote(record, index, next),
        account,
        accountChanged: false,
        sessionCreated: false,
        identityChanged: status === 'changed',
      };
    } catch (error) {
      if (!(error instanceof ProtocolError)) {
        throw error;
      }
      if (error.code === 'duplicate_message' && duplicate === undefined) {
        duplicate = error;
      }
      firstError ??= error;
    }
  }

  throw duplicate ?? firstError;
}

async function decryptPrekeyEnvelope(
  account: AccountState,
  record: SessionRecord,
  envelope: PrekeyEnvelope,
  options: DecryptOptions,
): Promise<DecryptResult> {
  const known = options.knownIdentityKey !== undefined ? options.knownIdentityKey : currentIdentity(record);
  const status = checkIdentity(known, envelope.identityKey, options.identityPolicy ?? 'reject');
  const identityChanged = status === 'changed';

  // A repeat of a first message this account already accepted continues that session.
  const index = record.sessions.findIndex(
    (session) => session.role === 'responder' && session.initiation?.baseKey === envelope.baseKey,
  );
  if (index >= 0) {
    const session = record.sessions[index]!;
    if (!sameInitiation(session.initiation!, envelope)) {
      throw new ProtocolError('decryption_failed', 'Decryption failed: the first message does not match the session it names');
    }
    const { plaintext, session: next } = await decryptWithSession(session, envelope);
    return {
      plaintext,
      record: promote(record, index, next),
      account,
      accountChanged: false,
      sessionCreated: false,
      identityChanged,
    };
  }

  // NOTE: a first message that used no one-time EC prekey can be replayed
  // once its session has left the record (after MAX_PREVIOUS_SESSIONS newer
  // ones): it then starts a new session and decrypts again. PQXDH has this
  // property by design (its section 4.2); callers dedupe by topic id as well.
  const now = options.now ?? Date.now();
  const keys = findResponderKeys(account, envelope, now);
  const agreed = await agreeAsResponder(account, envelope, keys);

  try {
    const session: SessionState = {
      role: 'responder',
      localIdentityKey: account.identity.publicKey,
      remoteIdentityKey: envelope.identityKey,
      initiation: initiationOf(envelope),
      awaitingReply: false,
      ratchet: initializeResponder(agreed.sharedKey, keys.signedPrekey),
      createdAt: now,
    };
    const { plaintext, session: next } = await decryptWithSession(session, envelope);

    // Only now, after the message authenticated, are the one-time private halves deleted.
    const nextAccount = consumePrekeys(account, envelope);
    return {
      plaintext,
      record: withCurrent(record, next),
      account: nextAccount,
      accountChanged: nextAccount !== account,
      sessionCreated: true,
      identityChanged,
    };
  } finally {
    wipe(agreed.sharedKey);
  }
}

async function decryptWithSession(session: SessionState, envelope: Envelope): Promise<{ plaintext: Uint8Array; session: SessionState }> {
  const header = { ratchetKey: envelope.ratchetKey, previousCounter: envelope.previousCounter, counter: envelope.counter };
  const ciphertext = fromBase64Url(envelope.ciphertext, 'ciphertext');
  const { state, plaintext } = await ratchetDecrypt(session.ratchet, header, ciphertext, associatedDataOf(session));

  // Any message from the contact proves they hold the session, so first-message data is no longer sent.
  const next: SessionState =
    session.role === 'initiator'
      ? { ...session, ratchet: state, awaitingReply: false, initiation: null }
      : { ...session, ratchet: state };
  return { plaintext, session: next };
}

function findResponderKeys(account: AccountState, envelope: PrekeyEnvelope, now: number): ResponderKeys {
  const signedPrekey = account.signedPrekeys.find(
    (key) => key.keyId === envelope.signedPrekeyId && (key.replacedAt === null || now - key.replacedAt < SIGNED_PREKEY_GRACE_MS),
  );
  if (signedPrekey === undefined) {
    throw new ProtocolError(
      'unknown_prekey',
      `Unknown signed prekey ${envelope.signedPrekeyId}: it was never issued by this account or has expired; the sender must fetch a new bundle`,
      { keyId: envelope.signedPrekeyId },
    );
  }

  let oneTimePrekey = null;
  if (envelope.oneTimePrekeyId !== null) {
    const keyId = envelope.oneTimePrekeyId;
    oneTimePrekey = account.oneTimePrekeys.find((key) => key.keyId === keyId) ?? null;
    if (oneTimePrekey === null) {
      throw missingOneTimeKey('one-time prekey', keyId, account.nextOneTimePrekeyId);
    }
  }

  const kemPrekey = findKemPrekey(account, envelope.kemPrekeyId, now);
  return {
    signedPrekey: { publicKey: signedPrekey.publicKey, privateKey: signedPrekey.privateKey },
    oneTimePrekey: oneTimePrekey === null ? null : { publicKey: oneTimePrekey.publicKey, privateKey: oneTimePrekey.privateKey },
    kemSeed: kemPrekey.seed,
    kemPublicKey: kemPrekey.publicKey,
  };
}

function findKemPrekey(account: AccountState, keyId: number, now: number): KemPrekeyState {
  const oneTime = account.kemPrekeys.find((key) => key.keyId === keyId);
  if (oneTime !== undefined) {
    return oneTime;
  }

  const lastResort = account.lastResortKemPrekeys.find(
    (key) => key.keyId === keyId && (key.replacedAt === null || now - key.replacedAt < SIGNED_PREKEY_GRACE_MS),
  );
  if (lastResort !== undefined) {
    return lastResort;
  }

  // NOTE: a last-resort KEM prekey past its grace period is also reported as used, because ids alone cannot tell them apart.
  throw missingOneTimeKey('KEM prekey', keyId, account.nextKemPrekeyId);
}

function missingOneTimeKey(what: string, keyId: number, nextId: number): ProtocolError {
  if (keyId < nextId) {
    return new ProtocolError(
      'one_time_prekey_reused',
      `The ${what} ${keyId} was already used by another first message and deleted; the message is rejected`,
      { keyId },
    );
  }
  return new ProtocolError('unknown_prekey', `Unknown ${what} ${keyId}: this account never issued it`, { keyId });
}

/** Removes the one-time EC and KEM prekeys a first message used; last-resort keys stay. */
function consumePrekeys(account: AccountState, envelope: PrekeyEnvelope): AccountState {
  const usesOneTime = envelope.oneTimePrekeyId !== null && account.oneTimePrekeys.some((key) => key.keyId === envelope.oneTimePrekeyId);
  const usesKem = account.kemPrekeys.some((key) => key.keyId === envelope.kemPrekeyId);
  if (!usesOneTime && !usesKem) {
    return account;
  }

  return {
    ...account,
    oneTimePrekeys: usesOneTime ? account.oneTimePrekeys.filter((key) => key.keyId !== envelope.oneTimePrekeyId) : account.oneTimePrekeys,
    kemPrekeys: usesKem ? account.kemPrekeys.filter((key) => key.keyId !== envelope.kemPrekeyId) : account.kemPrekeys,
  };
}

function initiationOf(envelope: PrekeyEnvelope): Initiation {
  return {
    identityKey: envelope.identityKey,
    baseKey: envelope.baseKey,
    signedPrekeyId: envelope.signedPrekeyId,
    oneTimePrekeyId: envelope.oneTimePrekeyId,
    kemPrekeyId: envelope.kemPrekeyId,
    kemCiphertext: envelope.kemCiphertext,
  };
}

function sameInitiation(initiation: Initiation, envelope: PrekeyEnvelope): boolean {
  return (
    initiation.identityKey === envelope.identityKey &&
    initiation.baseKey === envelope.baseKey &&
    initiation.signedPrekeyId === envelope.signedPrekeyId &&
    initiation.oneTimePrekeyId === envelope.oneTimePrekeyId &&
    initiation.kemPrekeyId === envelope.kemPrekeyId &&
    initiation.kemCiphertext === envelope.kemCiphertext
  );
}

/** AD = IK_A || IK_B: the initiator's identity key first, on both sides. */
function associatedDataOf(session: SessionState): Uint8Array {
  const local = fromBase64Url(session.localIdentityKey, 'local identity key');
  const remote = fromBase64Url(session.remoteIdentityKey, 'remote identity key');
  const out = new Uint8Array(64);
  out.set(session.role === 'initiator' ? local : remote, 0);
  out.set(session.role === 'initiator' ? remote : local, 32);
  return out;
}

function currentIdentity(record: SessionRecord): string | null {
  return record.sessions[0]?.remoteIdentityKey ?? null;
}

/** Puts `session` first; drops sessions of another identity and the oldest beyond the limit. */
function withCurrent(record: SessionRecord, session: SessionState): SessionRecord {
  const earlier = record.sessions.filter((other) => other.remoteIdentityKey === session.remoteIdentityKey);
  return { ...record, sessions: [session, ...earlier].slice(0, 1 + MAX_PREVIOUS_SESSIONS) };
}

function promote(record: SessionRecord, index: number, session: SessionState): SessionRecord {
  const sessions = record.sessions.slice();
  sessions.splice(index, 1);
  sessions.unshift(session);
  return { ...record, sessions };
}
