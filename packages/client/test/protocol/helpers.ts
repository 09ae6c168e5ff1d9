/**
 * Shared setup for the protocol tests: small accounts, bundles built the way
 * `claim_prekey_bundle` builds them, and a seeded byte generator.
 */
import { sha256 } from '@noble/hashes/sha2.js';

import {
  createAccount,
  decryptEnvelope,
  encryptMessage,
  exportPrekeys,
  initiateSession,
  publicIdentity,
  type AccountState,
  type Envelope,
  type PrekeyBundle,
  type SessionRecord,
} from '../../src/protocol/index.ts';

export const decoder = new TextDecoder();

/** Creates an account with a few one-time prekeys, which keeps tests fast. */
export function smallAccount(now = 1_700_000_000_000): Promise<AccountState> {
  return createAccount({ now, oneTimePrekeys: 3, kemPrekeys: 3 });
}

/**
 * Builds the bundle the server would hand out: the current signed prekey,
 * the one-time prekeys at `oneTimeIndex` and `kemIndex` (null: none left,
 * so the last-resort KEM prekey).
 */
export function bundleOf(
  account: AccountState,
  profile: string,
  { oneTimeIndex = 0, kemIndex = 0 }: { oneTimeIndex?: number | null; kemIndex?: number | null } = {},
): PrekeyBundle {
  const upload = exportPrekeys(account);
  const oneTime = oneTimeIndex === null ? null : upload.oneTimePrekeys[oneTimeIndex]!;
  const kem = kemIndex === null ? upload.lastResortKemPrekey : upload.kemPrekeys[kemIndex]!;
  return {
    profile,
    identity: publicIdentity(account),
    signedPrekey: upload.signedPrekey,
    oneTimePrekey: oneTime,
    kemPrekey: { ...kem, lastResort: kemIndex === null },
  };
}

/** Two parties with a session: Alice initiated it, Bob accepted her first message and replied once. */
export async function establishedPair(): Promise<{
  alice: AccountState;
  bob: AccountState;
  aliceRecord: SessionRecord;
  bobRecord: SessionRecord;
}> {
  const alice = await smallAccount();
  let bob = await smallAccount();

  const started = await initiateSession(alice, bundleOf(bob, 'bob'));
  const first = await encryptMessage(started.record, 'hello');
  const accepted = await decryptEnvelope(bob, null, first.envelope);
  bob = accepted.account;

  const reply = await encryptMessage(accepted.record, 'hi');
  const received = await decryptEnvelope(alice, first.record, reply.envelope);
  return { alice, bob, aliceRecord: received.record, bobRecord: reply.record };
}

/** Returns the JSON text of an envelope, as the database stores it. */
export function envelopeText(envelope: Envelope): string {
  return JSON.stringify(envelope);
}

/**
 * A deterministic byte generator: SHA-256 over the seed and a counter.
 * Not a CSPRNG; only for reproducible tests and vectors.
 */
export class SeededBytes {
  #counter = 0;
  readonly #seed: Uint8Array;

  constructor(seed: string) {
    this.#seed = new TextEncoder().encode(seed);
  }

  next(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let offset = 0;
    while (offset < length) {
      const block = new Uint8Array(this.#seed.length + 4);
      block.set(this.#seed);
      new DataView(block.buffer).setUint32(this.#seed.length, this.#counter++);
      const digest = sha256(block);
      out.set(digest.subarray(0, Math.min(digest.length, length - offset)), offset);
      offset += digest.length;
    }
    return out;
  }

  /** Fills `array` in place, with the signature of `crypto.getRandomValues`. */
  fill<T extends ArrayBufferView | null>(array: T): T {
    if (array !== null) {
      const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      view.set(this.next(view.length));
    }
    return array;
  }
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}
