/**
 * Generates the fixed protocol vectors in vectors/protocol from seeded
 * randomness. Run from the repository root:
 *
 *   npx tsx packages/client/test/protocol/generate-vectors.ts
 *
 * Regenerate only for a deliberate, versioned format change: the vectors
 * exist so that an accidental incompatible change fails the tests.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import {
  createAccount,
  decryptEnvelope,
  encryptMessage,
  initiateSession,
  safetyNumber,
  type AccountState,
  type Envelope,
  type PrekeyBundle,
  type SessionRecord,
} from '../../src/protocol/index.ts';
import { toBase64Url } from '../../src/protocol/encoding.ts';
import { decryptWithMessageKey, encryptWithMessageKey, kdfCk, kdfRk, messageKeyMaterial } from '../../src/protocol/kdf.ts';
import { encodeHeader } from '../../src/protocol/ratchet.ts';
import { bundleOf, SeededBytes, toHex } from './helpers.ts';
import { withSeededRandomness } from './seeded.ts';

export const ACCOUNT_SEED = 'parley protocol vectors v1: accounts';
export const INITIATE_SEED = 'parley protocol vectors v1: initiate';
const CONVERSATION_SEED = 'parley protocol vectors v1: conversation';
const KDF_SEED = 'parley protocol vectors v1: kdf';
const NOW = 1_767_225_600_000; // 2026-01-01T00:00:00Z

export interface SessionStep {
  from: 'alice' | 'bob';
  plaintext: string;
  senderRecordBefore: SessionRecord;
  receiverAccountBefore: AccountState;
  receiverRecordBefore: SessionRecord | null;
  envelope: Envelope;
  receiverRecordAfter: SessionRecord;
}

export interface SessionVectors {
  source: string;
  now: number;
  alice: AccountState;
  bob: AccountState;
  bundle: PrekeyBundle;
  /** Alice's session record right after `initiateSession`, drawn from INITIATE_SEED. */
  initiated: SessionRecord;
  steps: SessionStep[];
}

/** Builds both accounts from the account seed. */
export function seededAccounts(): Promise<{ alice: AccountState; bob: AccountState }> {
  return withSeededRandomness(ACCOUNT_SEED, async () => ({
    alice: await createAccount({ now: NOW, oneTimePrekeys: 2, kemPrekeys: 2 }),
    bob: await createAccount({ now: NOW, oneTimePrekeys: 2, kemPrekeys: 2 }),
  }));
}

/** Runs `initiateSession` with the initiate seed, as the vectors did. */
export async function seededInitiation(alice: AccountState, bundle: PrekeyBundle): Promise<SessionRecord> {
  return withSeededRandomness(INITIATE_SEED, async () => (await initiateSession(alice, bundle, { now: NOW })).record);
}

async function sessionVectors(): Promise<SessionVectors> {
  const { alice, bob } = await seededAccounts();
  const bundle = bundleOf(bob, 'bob', { oneTimeIndex: 1, kemIndex: 0 });
  const initiated = await seededInitiation(alice, bundle);

  return withSeededRandomness(CONVERSATION_SEED, async () => {
    const accounts = { alice, bob };
    const records: Record<'alice' | 'bob', SessionRecord | null> = { alice: initiated, bob: null };
    const steps: SessionStep[] = [];

    // [sender, plaintext, deliver now]; undelivered messages arrive later in the listed order.
    const script: Array<['alice' | 'bob', string, boolean]> = [
      ['alice', 'Hello Bob, this is the first message.', true],
      ['alice', 'A second message before any reply.', true],
      ['bob', 'Hi Alice.', true],
      ['alice', 'Message 0 of a new chain (arrives late).', false],
      ['alice', 'Message 1 of a new chain.', true],
      ['bob', 'Unicode: ключ, 鍵, 🔑', true],
      ['bob', '', true],
    ];
    const late: Array<{ from: 'alice' | 'bob'; plaintext: string; envelope: Envelope; senderRecordBefore: SessionRecord }> = [];

    const deliver = async (from: 'alice' | 'bob', plaintext: string, envelope: Envelope, senderRecordBefore: SessionRecord) => {
      const to = from === 'alice' ? 'bob' : 'alice';
      const receiverAccountBefore = accounts[to];
      const receiverRecordBefore = records[to];
      const result = await decryptEnvelope(receiverAccountBefore, receiverRecordBefore, envelope, { now: NOW });
      if (new TextDecoder().decode(result.plaintext) !== plaintext) {
        throw new Error(`vector generation failed: ${to} decrypted a different plaintext`);
      }
      accounts[to] = result.account;
      records[to] = result.record;
      steps.push({ from, plaintext, senderRecordBefore, receiverAccountBefore, receiverRecordBefore, envelope, receiverRecordAfter: result.record });
    };

    for (const [from, plaintext, now] of script) {
      const senderRecordBefore = records[from]!;
      const sent = await encryptMessage(senderRecordBefore, plaintext);
      records[from] = sent.record;
      if (now) {
        await deliver(from, plaintext, sent.envelope, senderRecordBefore);
      } else {
        late.push({ from, plaintext, envelope: sent.envelope, senderRecordBefore });
      }
    }
    for (const message of late) {
      await deliver(message.from, message.plaintext, message.envelope, message.senderRecordBefore);
    }

    return {
      source:
        'Generated by packages/client/test/protocol/generate-vectors.ts with seeded randomness (SHA-256 counter generator, @noble backend). ' +
        'Each step: the sender encrypts `plaintext` with `senderRecordBefore` to exactly `envelope`; the receiver decrypts it with ' +
        '`receiverAccountBefore` and `receiverRecordBefore` to `plaintext` and `receiverRecordAfter` (up to the fresh ratchet key pair and what it derives).',
      now: NOW,
      alice,
      bob,
      bundle,
      initiated,
      steps,
    };
  });
}

async function kdfVectors(): Promise<unknown> {
  const random = new SeededBytes(KDF_SEED);

  const rootKdf = [];
  for (let i = 0; i < 3; i++) {
    const rootKey = random.next(32);
    const dhOutput = random.next(32);
    const output = await kdfRk(rootKey, dhOutput);
    rootKdf.push({ rootKey: toHex(rootKey), dhOutput: toHex(dhOutput), nextRootKey: toHex(output.rootKey), chainKey: toHex(output.chainKey) });
  }

  const chainKdf = [];
  let chainKey = random.next(32);
  for (let i = 0; i < 5; i++) {
    const step = await kdfCk(chainKey);
    chainKdf.push({ chainKey: toHex(chainKey), messageKey: toHex(step.messageKey), nextChainKey: toHex(step.chainKey) });
    chainKey = step.chainKey;
  }

  const messageKeys = [];
  for (let i = 0; i < 3; i++) {
    const messageKey = random.next(32);
    const material = await messageKeyMaterial(messageKey);
    messageKeys.push({ messageKey: toHex(messageKey), aesKey: toHex(material.key), nonce: toHex(material.nonce) });
  }

  const aead = [];
  for (const length of [0, 1, 16, 100]) {
    const messageKey = random.next(32);
    const plaintext = random.next(length);
    const associatedData = random.next(64 + 41);
    const ciphertext = await encryptWithMessageKey(messageKey.slice(), plaintext, associatedData);
    await decryptWithMessageKey(messageKey.slice(), ciphertext, associatedData);
    aead.push({ messageKey: toHex(messageKey), plaintext: toHex(plaintext), associatedData: toHex(associatedData), ciphertext: toHex(ciphertext) });
  }

  const headers = [];
  for (const [previousCounter, counter] of [
    [0, 0],
    [3, 1000],
    [0xffffffff, 0x01020304],
  ] as const) {
    const ratchetKey = random.next(32);
    ratchetKey[31]! &= 0x7f;
    const header = { ratchetKey: toBase64Url(ratchetKey), previousCounter, counter };
    headers.push({ ...header, encoded: toHex(encodeHeader(header)) });
  }

  const safetyNumbers = [];
  for (const [localProfile, remoteProfile] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
    ['alice', 'alice.2'],
  ] as const) {
    const local = { profile: localProfile, identityKey: toBase64Url(random.next(32)) };
    const remote = { profile: remoteProfile, identityKey: toBase64Url(random.next(32)) };
    safetyNumbers.push({ local, remote, digits: await safetyNumber(local, remote) });
  }

  return {
    source:
      'Generated by packages/client/test/protocol/generate-vectors.ts from a SHA-256 counter generator. Bytes are hex except ratchetKey and ' +
      'identityKey (base64url). rootKdf: KDF_RK = HKDF-SHA-256(salt = rootKey, ikm = dhOutput, info = "Parley_Ratchet_RootKey", 64). ' +
      'chainKdf: KDF_CK = HMAC-SHA-256(chainKey, 0x01 | 0x02). messageKeys: HKDF-SHA-256(salt = 32 zero bytes, ikm = messageKey, ' +
      'info = "Parley_Ratchet_MessageKeys", 44) split 32 + 12. aead: AES-256-GCM with those. headers: 0x01 || ratchetKey || PN || N (big-endian). ' +
      'safetyNumbers: 60 digits as in packages/client/src/protocol/identity.ts.',
    rootKdf,
    chainKdf,
    messageKeys,
    aead,
    headers,
    safetyNumbers,
  };
}

function envelopeVectors(session: SessionVectors): unknown {
  const prekey = session.steps[0]!.envelope;
  const message = session.steps.find((step) => step.envelope.type === 'message')!.envelope;
  const text = (value: unknown) => JSON.stringify(value);
  const without = (value: object, field: string) => Object.fromEntries(Object.entries(value).filter(([key]) => key !== field));

  return {
    source:
      'Generated by packages/client/test/protocol/generate-vectors.ts. `valid` entries parse to themselves; each `invalid` entry ' +
      'is rejected by parseEnvelope with ProtocolError `code`.',
    valid: [text(prekey), text(message)],
    invalid: [
      { name: 'not JSON', input: '{"v":1,', code: 'invalid_envelope' },
      { name: 'array', input: '[]', code: 'invalid_envelope' },
      { name: 'version 2', input: text({ ...message, v: 2 }), code: 'unsupported_version' },
      { name: 'version as text', input: text({ ...message, v: '1' }), code: 'invalid_envelope' },
      { name: 'unknown type', input: text({ ...message, type: 'receipt' }), code: 'invalid_envelope' },
      { name: 'missing ciphertext', input: text(without(message, 'ciphertext')), code: 'invalid_envelope' },
      { name: 'missing kemCiphertext', input: text(without(prekey, 'kemCiphertext')), code: 'invalid_envelope' },
      { name: 'extra field', input: text({ ...message, from: 'alice' }), code: 'invalid_envelope' },
      { name: 'prekey field on a message', input: text({ ...message, baseKey: (prekey as { baseKey: string }).baseKey }), code: 'invalid_envelope' },
      { name: 'short ratchet key', input: text({ ...message, ratchetKey: message.ratchetKey.slice(0, 42) }), code: 'invalid_envelope' },
      { name: 'padded ratchet key', input: text({ ...message, ratchetKey: `${message.ratchetKey}=` }), code: 'invalid_envelope' },
      { name: 'short KEM ciphertext', input: text({ ...prekey, kemCiphertext: (prekey as { kemCiphertext: string }).kemCiphertext.slice(0, 2088) }), code: 'invalid_envelope' },
      { name: 'ciphertext shorter than the tag', input: text({ ...message, ciphertext: 'AAAAAAAAAAAAAAAAAAAA' }), code: 'invalid_envelope' },
      { name: 'negative counter', input: text({ ...message, counter: -1 }), code: 'invalid_envelope' },
      { name: 'key id zero', input: text({ ...prekey, signedPrekeyId: 0 }), code: 'invalid_envelope' },
    ],
  };
}

async function main(): Promise<void> {
  const directory = fileURLToPath(new URL('../../vectors/protocol/', import.meta.url));
  const session = await sessionVectors();
  await writeFile(`${directory}session.json`, `${JSON.stringify(session, null, 2)}\n`);
  await writeFile(`${directory}kdf.json`, `${JSON.stringify(await kdfVectors(), null, 2)}\n`);
  await writeFile(`${directory}envelope.json`, `${JSON.stringify(envelopeVectors(session), null, 2)}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
