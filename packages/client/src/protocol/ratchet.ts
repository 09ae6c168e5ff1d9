/**
 * The Double Ratchet (Signal's Double Ratchet specification, revision 1 of 2016-11-20):
 * X25519 DH ratchet, HKDF root chain, HMAC sending and receiving chains,
 * AES-256-GCM messages with associated data = both identity keys + the
 * encoded header. Headers are not encrypted.
 *
 * `ratchetDecrypt` works on a copy of the state and returns the copy only
 * after the message authenticated, so a failure changes nothing.
 */
import { CryptoError, wipe, x25519 } from '../crypto/index.ts';
import type { KeyPairState } from './account.ts';
import {
  MAX_COUNTER,
  MAX_PREVIOUS_RECEIVING_CHAINS,
  MAX_SKIP,
  MAX_STORED_SKIPPED_KEYS,
  PROTOCOL_VERSION,
} from './constants.ts';
import { concatBytes, fromBase64Url, toBase64Url, uint32BE } from './encoding.ts';
import { ProtocolError } from './errors.ts';
import { decryptWithMessageKey, encryptWithMessageKey, kdfCk, kdfRk } from './kdf.ts';

export interface ChainState {
  chainKey: string;
  /** `Ns` or `Nr`: index of the next message key in this chain. */
  counter: number;
}

/** A receiving chain the session ratcheted away from. */
export interface PreviousChainState {
  ratchetKey: string;
  /** Length of the chain: every counter below it was received or skipped. */
  counter: number;
}

export interface SkippedKeyState {
  ratchetKey: string;
  counter: number;
  messageKey: string;
}

/** The Double Ratchet part of a session, JSON-safe. Secret. */
export interface RatchetState {
  /** `RK`. */
  rootKey: string;
  /** `DHs`. */
  sendingRatchetKey: KeyPairState;
  /**
   * `CKs` and `Ns`; null after a DH ratchet step on receipt until this side
   * sends again, and on the responder's side until it first sends.
   */
  sendingChain: ChainState | null;
  /** `DHr`. */
  receivingRatchetKey: string | null;
  /** `CKr` and `Nr`. */
  receivingChain: ChainState | null;
  /** `PN`. */
  previousCounter: number;
  /** Earlier receiving chains, newest last, so replays from them are reported as duplicates. */
  previousReceivingChains: PreviousChainState[];
  /** `MKSKIPPED`, oldest first. */
  skippedMessageKeys: SkippedKeyState[];
}

export interface MessageHeader {
  ratchetKey: string;
  previousCounter: number;
  counter: number;
}

/**
 * Encodes a header for the associated data: version byte, the 32-byte
 * ratchet key, then `PN` and `N` as big-endian uint32 (41 bytes).
 */
export function encodeHeader(header: MessageHeader): Uint8Array {
  return concatBytes(
    Uint8Array.of(PROTOCOL_VERSION),
    fromBase64Url(header.ratchetKey, 'ratchet key'),
    uint32BE(header.previousCounter),
    uint32BE(header.counter),
  );
}

/** `RatchetInitAlice`: the initiator's first DH ratchet step against the responder's signed prekey. */
export async function initializeInitiator(sharedKey: Uint8Array, remoteRatchetKey: Uint8Array): Promise<RatchetState> {
  const ratchetKey = await x25519.generateKeyPair();
  const dhOutput = await x25519.sharedSecret(ratchetKey.privateKey, remoteRatchetKey);
  const { rootKey, chainKey } = await kdfRk(sharedKey, dhOutput);

  const state: RatchetState = {
    rootKey: toBase64Url(rootKey),
    sendingRatchetKey: { publicKey: toBase64Url(ratchetKey.publicKey), privateKey: toBase64Url(ratchetKey.privateKey) },
    sendingChain: { chainKey: toBase64Url(chainKey), counter: 0 },
    receivingRatchetKey: toBase64Url(remoteRatchetKey),
    receivingChain: null,
    previousCounter: 0,
    previousReceivingChains: [],
    skippedMessageKeys: [],
  };
  wipe(ratchetKey.privateKey, dhOutput, rootKey, chainKey);
  return state;
}

/** `RatchetInitBob`: the responder starts with its signed prekey as ratchet key and `SK` as root key. */
export function initializeResponder(sharedKey: Uint8Array, signedPrekey: KeyPairState): RatchetState {
  return {
    rootKey: toBase64Url(sharedKey),
    sendingRatchetKey: { ...signedPrekey },
    sendingChain: null,
    receivingRatchetKey: null,
    receivingChain: null,
    previousCounter: 0,
    previousReceivingChains: [],
    skippedMessageKeys: [],
  };
}

/** `RatchetEncrypt`: returns the header, the ciphertext and the advanced state. */
export async function ratchetEncrypt(
  state: RatchetState,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
): Promise<{ state: RatchetState; header: MessageHeader; ciphertext: Uint8Array }> {
  if (state.sendingChain === null && state.receivingRatchetKey === null) {
    throw new ProtocolError('no_session', 'Cannot encrypt: this session has not received its first message yet');
  }
  const current = state.sendingChain === null ? await startSendingChain(state, state.receivingRatchetKey!) : state;
  const sendingChain = current.sendingChain!;
  if (sendingChain.counter > MAX_COUNTER) {
    throw new ProtocolError('invalid_state', 'Cannot encrypt: the sending chain is exhausted; start a new session');
  }

  const chainKey = fromBase64Url(sendingChain.chainKey, 'sending chain key');
  const step = await kdfCk(chainKey);
  const header: MessageHeader = {
    ratchetKey: current.sendingRatchetKey.publicKey,
    previousCounter: current.previousCounter,
    counter: sendingChain.counter,
  };

  try {
    const ciphertext = await encryptWithMessageKey(step.messageKey, plaintext, concatBytes(associatedData, encodeHeader(header)));
    const next: RatchetState = {
      ...current,
      sendingChain: { chainKey: toBase64Url(step.chainKey), counter: sendingChain.counter + 1 },
    };
    return { state: next, header, ciphertext };
  } finally {
    wipe(chainKey, step.chainKey, step.messageKey);
  }
}

/**
 * `RatchetDecrypt`: returns the plaintext and the new state, or throws
 * `duplicate_message`, `too_far_ahead` or `decryption_failed` with `state`
 * untouched.
 */
export async function ratchetDecrypt(
  state: RatchetState,
  header: MessageHeader,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Promise<{ state: RatchetState; plaintext: Uint8Array }> {
  const ad = concatBytes(associatedData, encodeHeader(header));

  // TrySkippedMessageKeys.
  const skippedIndex = state.skippedMessageKeys.findIndex(
    (entry) => entry.counter === header.counter && entry.ratchetKey === header.ratchetKey,
  );
  if (skippedIndex >= 0) {
    const messageKey = fromBase64Url(state.skippedMessageKeys[skippedIndex]!.messageKey, 'skipped message key');
    const plaintext = await openOrFail(messageKey, ciphertext, ad, header.counter);
    const skippedMessageKeys = state.skippedMessageKeys.slice();
    skippedMessageKeys.splice(skippedIndex, 1);
    return { state: { ...state, skippedMessageKeys }, plaintext };
  }

  checkNotConsumed(state, header);

  const working: RatchetState = structuredClone(state);
  if (header.ratchetKey !== working.receivingRatchetKey) {
    await skipMessageKeys(working, header.previousCounter);
    await dhRatchet(working, header);
  }
  await skipMessageKeys(working, header.counter);

  // The initiator starts with the responder's signed prekey as DHr but no
  // receiving chain; a message claiming that key cannot be genuine.
  const receivingChain = working.receivingChain;
  if (receivingChain === null) {
    throw new ProtocolError('decryption_failed', 'Decryption failed: the message does not belong to this session', {
      counter: header.counter,
    });
  }
  const chainKey = fromBase64Url(receivingChain.chainKey, 'receiving chain key');
  const step = await kdfCk(chainKey);
  wipe(chainKey);

  const plaintext = await openOrFail(step.messageKey, ciphertext, ad, header.counter);
  working.receivingChain = { chainKey: toBase64Url(step.chainKey), counter: receivingChain.counter + 1 };
  wipe(step.chainKey);
  return { state: working, plaintext };
}

/** Reports a message whose key this session already used (and deleted) as a duplicate. */
function checkNotConsumed(state: RatchetState, header: MessageHeader): void {
  let chainLength: number | undefined;
  if (header.ratchetKey === state.receivingRatchetKey) {
    chainLength = state.receivingChain?.counter;
  } else {
    chainLength = state.previousReceivingChains.find((chain) => chain.ratchetKey === header.ratchetKey)?.counter;
    if (chainLength !== undefined && header.counter >= chainLength) {
      // An old chain cannot grow, because the sender moved on and sent its final length as PN.
      throw new ProtocolError('decryption_failed', 'Decryption failed: the message does not belong to this session', {
        counter: header.counter,
      });
    }
  }

  if (chainLength !== undefined && header.counter < chainLength) {
    throw new ProtocolError('duplicate_message', `Duplicate message: message ${header.counter} of this chain was already decrypted`, {
      counter: header.counter,
    });
  }
}

/** `SkipMessageKeys`: stores the keys of messages not yet received, within MAX_SKIP per chain and MAX_STORED_SKIPPED_KEYS in all. */
async function skipMessageKeys(state: RatchetState, until: number): Promise<void> {
  const receivingChain = state.receivingChain;
  const received = receivingChain?.counter ?? 0;
  if (received + MAX_SKIP < until) {
    throw new ProtocolError(
      'too_far_ahead',
      `Message too far ahead: counter ${until} would skip more than ${MAX_SKIP} message keys after ${received}`,
      { counter: until, max: received + MAX_SKIP },
    );
  }
  if (receivingChain === null || state.receivingRatchetKey === null || receivingChain.counter >= until) {
    return;
  }

  let chainKey = fromBase64Url(receivingChain.chainKey, 'receiving chain key');
  let counter = receivingChain.counter;
  const skipped = state.skippedMessageKeys;
  while (counter < until) {
    const step = await kdfCk(chainKey);
    wipe(chainKey);
    skipped.push({ ratchetKey: state.receivingRatchetKey, counter, messageKey: toBase64Url(step.messageKey) });
    wipe(step.messageKey);
    chainKey = step.chainKey;
    counter += 1;
  }

  if (skipped.length > MAX_STORED_SKIPPED_KEYS) {
    skipped.splice(0, skipped.length - MAX_STORED_SKIPPED_KEYS);
  }
  state.receivingChain = { chainKey: toBase64Url(chainKey), counter };
  wipe(chainKey);
}

/**
 * `DHRatchet`, receiving half: a new receiving chain from the sender's new
 * ratchet key. The sending half waits until this side next sends
 * (`startSendingChain`), as section 6.5 of the specification allows, so the
 * responder's first decryption generates no key pair.
 */
async function dhRatchet(state: RatchetState, header: MessageHeader): Promise<void> {
  if (state.receivingRatchetKey !== null) {
    state.previousReceivingChains.push({
      ratchetKey: state.receivingRatchetKey,
      counter: state.receivingChain?.counter ?? 0,
    });
    if (state.previousReceivingChains.length > MAX_PREVIOUS_RECEIVING_CHAINS) {
      state.previousReceivingChains.shift();
    }
  }

  state.previousCounter = state.sendingChain?.counter ?? 0;
  state.receivingRatchetKey = header.ratchetKey;

  const remoteKey = fromBase64Url(header.ratchetKey, 'ratchet key');
  const rootKey = fromBase64Url(state.rootKey, 'root key');
  const ownPrivate = fromBase64Url(state.sendingRatchetKey.privateKey, 'ratchet private key');
  const ownPublic = fromBase64Url(state.sendingRatchetKey.publicKey, 'ratchet public key');

  const receivingDh = await sharedSecretOrFail(ownPrivate, remoteKey, ownPublic);
  const receiving = await kdfRk(rootKey, receivingDh);

  state.receivingChain = { chainKey: toBase64Url(receiving.chainKey), counter: 0 };
  state.sendingChain = null;
  state.rootKey = toBase64Url(receiving.rootKey);

  wipe(rootKey, ownPrivate, receivingDh, receiving.rootKey, receiving.chainKey);
}

/** `DHRatchet`, sending half: a fresh ratchet key pair and a new sending chain; returns a new state. */
async function startSendingChain(state: RatchetState, receivingRatchetKey: string): Promise<RatchetState> {
  const remoteKey = fromBase64Url(receivingRatchetKey, 'ratchet key');
  const rootKey = fromBase64Url(state.rootKey, 'root key');
  const fresh = await x25519.generateKeyPair();

  try {
    const sendingDh = await x25519.sharedSecret(fresh.privateKey, remoteKey, fresh.publicKey);
    const sending = await kdfRk(rootKey, sendingDh);
    const next: RatchetState = {
      ...state,
      rootKey: toBase64Url(sending.rootKey),
      sendingRatchetKey: { publicKey: toBase64Url(fresh.publicKey), privateKey: toBase64Url(fresh.privateKey) },
      sendingChain: { chainKey: toBase64Url(sending.chainKey), counter: 0 },
    };
    wipe(sendingDh, sending.rootKey, sending.chainKey);
    return next;
  } finally {
    wipe(rootKey, fresh.privateKey);
  }
}

async function sharedSecretOrFail(privateKey: Uint8Array, publicKey: Uint8Array, ownPublicKey?: Uint8Array): Promise<Uint8Array> {
  try {
    return await x25519.sharedSecret(privateKey, publicKey, ownPublicKey);
  } catch (error) {
    if (error instanceof CryptoError) {
      throw new ProtocolError('decryption_failed', 'Decryption failed: the ratchet key is not a valid X25519 public key');
    }
    throw error;
  }
}

async function openOrFail(messageKey: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array, counter: number): Promise<Uint8Array> {
  try {
    return await decryptWithMessageKey(messageKey, ciphertext, ad);
  } catch (error) {
    if (error instanceof CryptoError) {
      throw new ProtocolError('decryption_failed', 'Decryption failed: the message did not authenticate; the session is unchanged', {
        counter,
      });
    }
    throw error;
  } finally {
    wipe(messageKey);
  }
}
