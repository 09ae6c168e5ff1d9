/**
 * Fixed vectors of our own KDF chains, session setup, ratchet and envelope
 * (vectors/protocol, made by generate-vectors.ts). A change that makes these
 * fail breaks compatibility with deployed clients.
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import {
  decryptEnvelope,
  deserializeAccount,
  deserializeSessionRecord,
  encryptMessage,
  parseEnvelope,
  ProtocolError,
  safetyNumber,
  type SessionRecord,
} from '../../src/protocol/index.ts';
import { decryptWithMessageKey, encryptWithMessageKey, kdfCk, kdfRk, messageKeyMaterial } from '../../src/protocol/kdf.ts';
import { encodeHeader } from '../../src/protocol/ratchet.ts';
import type { SessionVectors } from './generate-vectors.ts';
import { seededAccounts, seededInitiation } from './generate-vectors.ts';
import { decoder, fromHex, toHex } from './helpers.ts';

function load<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../vectors/protocol/${name}`, import.meta.url), 'utf8')) as T;
}

interface KdfVectors {
  rootKdf: Array<{ rootKey: string; dhOutput: string; nextRootKey: string; chainKey: string }>;
  chainKdf: Array<{ chainKey: string; messageKey: string; nextChainKey: string }>;
  messageKeys: Array<{ messageKey: string; aesKey: string; nonce: string }>;
  aead: Array<{ messageKey: string; plaintext: string; associatedData: string; ciphertext: string }>;
  headers: Array<{ ratchetKey: string; previousCounter: number; counter: number; encoded: string }>;
  safetyNumbers: Array<{ local: { profile: string; identityKey: string }; remote: { profile: string; identityKey: string }; digits: string }>;
}

const kdf = load<KdfVectors>('kdf.json');
const session = load<SessionVectors>('session.json');
/**
 * The same conversation as written by versions that started the sending chain
 * on receipt of a new ratchet key instead of at the next send. Their stored
 * states must keep working.
 */
const eagerSession = load<SessionVectors>('session-eager-ratchet.json');
const envelopes = load<{ valid: string[]; invalid: Array<{ name: string; input: string; code: string }> }>('envelope.json');

/** Returns the parts of a record that a decryption derives without fresh randomness. */
function deterministicPart(record: SessionRecord): unknown {
  return record.sessions.map((state) => ({
    ...state,
    ratchet: { ...state.ratchet, rootKey: undefined, sendingRatchetKey: undefined, sendingChain: undefined },
  }));
}

describe('KDF chain vectors', () => {
  it('KDF_RK', async () => {
    for (const vector of kdf.rootKdf) {
      const output = await kdfRk(fromHex(vector.rootKey), fromHex(vector.dhOutput));
      expect(toHex(output.rootKey)).toBe(vector.nextRootKey);
      expect(toHex(output.chainKey)).toBe(vector.chainKey);
    }
  });

  it('KDF_CK', async () => {
    for (const vector of kdf.chainKdf) {
      const output = await kdfCk(fromHex(vector.chainKey));
      expect(toHex(output.messageKey)).toBe(vector.messageKey);
      expect(toHex(output.chainKey)).toBe(vector.nextChainKey);
    }
  });

  it('message key to AES-256-GCM key and nonce', async () => {
    for (const vector of kdf.messageKeys) {
      const output = await messageKeyMaterial(fromHex(vector.messageKey));
      expect(toHex(output.key)).toBe(vector.aesKey);
      expect(toHex(output.nonce)).toBe(vector.nonce);
    }
  });

  it('message AEAD', async () => {
    for (const vector of kdf.aead) {
      const ciphertext = await encryptWithMessageKey(fromHex(vector.messageKey), fromHex(vector.plaintext), fromHex(vector.associatedData));
      expect(toHex(ciphertext)).toBe(vector.ciphertext);
      const plaintext = await decryptWithMessageKey(fromHex(vector.messageKey), fromHex(vector.ciphertext), fromHex(vector.associatedData));
      expect(toHex(plaintext)).toBe(vector.plaintext);
    }
  });

  it('header encoding', () => {
    for (const vector of kdf.headers) {
      expect(toHex(encodeHeader(vector))).toBe(vector.encoded);
    }
  });

  it('safety numbers', async () => {
    for (const vector of kdf.safetyNumbers) {
      expect(await safetyNumber(vector.local, vector.remote)).toBe(vector.digits);
    }
  });
});

describe('session vectors', () => {
  it('reads the stored states', () => {
    expect(deserializeAccount(session.alice)).toEqual(session.alice);
    expect(deserializeAccount(session.bob)).toEqual(session.bob);
    expect(deserializeSessionRecord(session.initiated)).toEqual(session.initiated);
  });

  it('derives the same accounts and initiation from the seed', async () => {
    const { alice, bob } = await seededAccounts();
    expect(alice).toEqual(session.alice);
    expect(bob).toEqual(session.bob);
    expect(await seededInitiation(session.alice, session.bundle)).toEqual(session.initiated);
  });

  for (const [name, vectors] of [
    ['current', session],
    ['eager ratchet', eagerSession],
  ] as const) {
    it(`encrypts each ${name} step to the stored envelope`, async () => {
      expect(vectors.steps[0]!.senderRecordBefore).toEqual(vectors.initiated);
      for (const [index, step] of vectors.steps.entries()) {
        const result = await encryptMessage(step.senderRecordBefore, step.plaintext);
        if (step.senderRecordBefore.sessions[0]!.ratchet.sendingChain !== null) {
          expect(result.envelope, `step ${index}`).toEqual(step.envelope);
          continue;
        }

        // Starting a sending chain draws a fresh ratchet key pair, so the key and the ciphertext differ from the stored ones.
        expect({ ...result.envelope, ratchetKey: '', ciphertext: '' }, `step ${index}`).toEqual({ ...step.envelope, ratchetKey: '', ciphertext: '' });
        expect(result.envelope.ratchetKey, `step ${index}`).not.toBe(step.senderRecordBefore.sessions[0]!.ratchet.sendingRatchetKey.publicKey);
        expect(result.record.sessions[0]!.ratchet.sendingChain?.counter, `step ${index}`).toBe(1);
      }
    });

    it(`decrypts each stored ${name} envelope`, async () => {
      for (const [index, step] of vectors.steps.entries()) {
        const result = await decryptEnvelope(step.receiverAccountBefore, step.receiverRecordBefore, JSON.stringify(step.envelope), {
          now: vectors.now,
        });
        expect(decoder.decode(result.plaintext), `step ${index}`).toBe(step.plaintext);
        expect(deterministicPart(result.record), `step ${index}`).toEqual(deterministicPart(step.receiverRecordAfter));
      }
    });
  }
});

describe('envelope vectors', () => {
  it('parses the valid envelopes unchanged', () => {
    for (const text of envelopes.valid) {
      expect(JSON.stringify(parseEnvelope(text))).toBe(text);
    }
  });

  it('rejects each invalid envelope with its code', () => {
    for (const vector of envelopes.invalid) {
      let error: unknown;
      try {
        parseEnvelope(vector.input);
      } catch (caught) {
        error = caught;
      }
      expect(error, vector.name).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code, vector.name).toBe(vector.code);
    }
  });
});
