import { describe, expect, it } from 'vitest';

import {
  decryptEnvelope,
  encryptMessage,
  initiateSession,
  limits,
  parseEnvelope,
  ProtocolError,
  rotatePrekeys,
  serializeSessionRecord,
  type AccountState,
  type Envelope,
  type SessionRecord,
} from '../../src/protocol/index.ts';
import { ed25519 } from '../../src/crypto/index.ts';
import { concatBytes, fromBase64Url, toBase64Url } from '../../src/protocol/encoding.ts';
import { bundleOf, decoder, establishedPair, smallAccount } from './helpers.ts';

async function expectCode(promise: Promise<unknown>, code: string): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(code);
  return error as ProtocolError;
}

function flipBit(text: string, bit: number): string {
  const index = Math.floor(bit / 8);
  const flipped = String.fromCharCode(text.charCodeAt(index) ^ (1 << (bit % 8)));
  return text.slice(0, index) + flipped + text.slice(index + 1);
}

function flipBase64Bit(value: string, bit: number): string {
  const bytes = fromBase64Url(value, 'test value');
  bytes[Math.floor(bit / 8)]! ^= 1 << (bit % 8);
  return toBase64Url(bytes);
}

describe('session setup', () => {
  it('delivers the first message and the reply', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();

    const started = await initiateSession(alice, bundleOf(bob, 'bob'));
    expect(started.identityChanged).toBe(false);
    const first = await encryptMessage(started.record, 'hello bob');
    expect(first.envelope.type).toBe('prekey');

    const accepted = await decryptEnvelope(bob, null, parseEnvelope(JSON.stringify(first.envelope)));
    expect(decoder.decode(accepted.plaintext)).toBe('hello bob');
    expect(accepted.sessionCreated).toBe(true);
    expect(accepted.accountChanged).toBe(true);

    const reply = await encryptMessage(accepted.record, 'hi alice');
    expect(reply.envelope.type).toBe('message');
    const received = await decryptEnvelope(alice, first.record, reply.envelope);
    expect(decoder.decode(received.plaintext)).toBe('hi alice');

    const next = await encryptMessage(received.record, 'after reply');
    expect(next.envelope.type).toBe('message');
  });

  it('defers a new ratchet key until sending', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const started = await initiateSession(alice, bundleOf(bob, 'bob'));
    const first = await encryptMessage(started.record, 'hello bob');

    const accepted = await decryptEnvelope(bob, null, first.envelope);
    const bobRatchet = accepted.record.sessions[0]!.ratchet;
    expect(bobRatchet.sendingChain).toBeNull();
    expect(bobRatchet.receivingRatchetKey).toBe(first.envelope.ratchetKey);

    const reply = await encryptMessage(accepted.record, 'hi alice');
    const replyRatchet = reply.record.sessions[0]!.ratchet;
    expect(reply.envelope.ratchetKey).toBe(replyRatchet.sendingRatchetKey.publicKey);
    expect(reply.envelope.ratchetKey).not.toBe(bobRatchet.sendingRatchetKey.publicKey);
    expect(replyRatchet.sendingChain?.counter).toBe(1);
    expect(replyRatchet.rootKey).not.toBe(bobRatchet.rootKey);

    const received = await decryptEnvelope(alice, first.record, reply.envelope);
    expect(decoder.decode(received.plaintext)).toBe('hi alice');
    expect(received.record.sessions[0]!.ratchet.sendingChain).toBeNull();

    const second = await encryptMessage(reply.record, 'second reply');
    expect(second.envelope.ratchetKey).toBe(reply.envelope.ratchetKey);
    expect(second.envelope.counter).toBe(1);
  });

  it('repeats the prekey data until the first reply', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const started = await initiateSession(alice, bundleOf(bob, 'bob'));

    const first = await encryptMessage(started.record, 'one');
    const second = await encryptMessage(first.record, 'two');
    expect(second.envelope.type).toBe('prekey');

    // The first message is lost; the second one still starts the session.
    const accepted = await decryptEnvelope(bob, null, second.envelope);
    expect(decoder.decode(accepted.plaintext)).toBe('two');

    // The late first message continues the same session instead of starting another.
    const late = await decryptEnvelope(accepted.account, accepted.record, first.envelope);
    expect(decoder.decode(late.plaintext)).toBe('one');
    expect(late.sessionCreated).toBe(false);
    expect(late.record.sessions).toHaveLength(1);
  });

  it('deletes the used one-time prekeys and keeps the last-resort key', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob', { oneTimeIndex: 1, kemIndex: 2 });

    const started = await initiateSession(alice, bundle);
    const first = await encryptMessage(started.record, 'hello');
    const accepted = await decryptEnvelope(bob, null, first.envelope);

    expect(accepted.account.oneTimePrekeys.map((key) => key.keyId)).toEqual([1, 3]);
    expect(accepted.account.kemPrekeys.map((key) => key.keyId)).not.toContain(bundle.kemPrekey.keyId);
    expect(accepted.account.kemPrekeys).toHaveLength(2);
    expect(bob.oneTimePrekeys).toHaveLength(3);

    const lastResort = bundleOf(bob, 'bob', { oneTimeIndex: null, kemIndex: null });
    const viaLastResort = await initiateSession(alice, lastResort);
    const message = await encryptMessage(viaLastResort.record, 'no one-time keys left');
    expect(message.envelope.type).toBe('prekey');
    expect((message.envelope as Extract<Envelope, { type: 'prekey' }>).oneTimePrekeyId).toBeNull();
    const acceptedLastResort = await decryptEnvelope(accepted.account, null, message.envelope);
    expect(decoder.decode(acceptedLastResort.plaintext)).toBe('no one-time keys left');
    expect(acceptedLastResort.accountChanged).toBe(false);
    expect(acceptedLastResort.account.lastResortKemPrekeys).toHaveLength(1);
  });

  it('rejects a second first message naming a used one-time prekey', async () => {
    const alice = await smallAccount();
    const carol = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob');

    const fromAlice = await encryptMessage((await initiateSession(alice, bundle)).record, 'first');
    const accepted = await decryptEnvelope(bob, null, fromAlice.envelope);

    const fromCarol = await encryptMessage((await initiateSession(carol, bundle)).record, 'second');
    const error = await expectCode(decryptEnvelope(accepted.account, null, fromCarol.envelope), 'one_time_prekey_reused');
    expect(error.details.keyId).toBe(1);
  });

  it('rejects a one-time KEM prekey used twice', async () => {
    const alice = await smallAccount();
    const carol = await smallAccount();
    const bob = await smallAccount();

    const fromAlice = await encryptMessage((await initiateSession(alice, bundleOf(bob, 'bob', { oneTimeIndex: 0 }))).record, 'a');
    const accepted = await decryptEnvelope(bob, null, fromAlice.envelope);
    const fromCarol = await encryptMessage((await initiateSession(carol, bundleOf(bob, 'bob', { oneTimeIndex: 1 }))).record, 'c');
    await expectCode(decryptEnvelope(accepted.account, null, fromCarol.envelope), 'one_time_prekey_reused');
  });

  it('rejects prekey ids the account never issued', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const first = await encryptMessage((await initiateSession(alice, bundleOf(bob, 'bob'))).record, 'x');
    const envelope = first.envelope as Extract<Envelope, { type: 'prekey' }>;

    await expectCode(decryptEnvelope(bob, null, { ...envelope, signedPrekeyId: 99 }), 'unknown_prekey');
    await expectCode(decryptEnvelope(bob, null, { ...envelope, oneTimePrekeyId: 99 }), 'unknown_prekey');
    await expectCode(decryptEnvelope(bob, null, { ...envelope, kemPrekeyId: 99 }), 'unknown_prekey');
  });

  it('stops on a bad signed prekey signature', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob');

    const badSigned = { ...bundle, signedPrekey: { ...bundle.signedPrekey, signature: flipBase64Bit(bundle.signedPrekey.signature, 5) } };
    const error = await expectCode(initiateSession(alice, badSigned), 'invalid_signature');
    expect(error.message).toContain('signed prekey');

    const otherKey = bundleOf(await smallAccount(), 'bob').signedPrekey.publicKey;
    await expectCode(initiateSession(alice, { ...bundle, signedPrekey: { ...bundle.signedPrekey, publicKey: otherKey } }), 'invalid_signature');
  });

  it('stops on a bad KEM prekey signature', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob');

    const badKem = { ...bundle, kemPrekey: { ...bundle.kemPrekey, signature: flipBase64Bit(bundle.kemPrekey.signature, 100) } };
    const error = await expectCode(initiateSession(alice, badKem), 'invalid_signature');
    expect(error.message).toContain('KEM prekey');

    const swapped = { ...bundle, kemPrekey: { ...bundle.kemPrekey, publicKey: bundleOf(bob, 'bob', { kemIndex: 1 }).kemPrekey.publicKey } };
    await expectCode(initiateSession(alice, swapped), 'invalid_signature');

    const foreignIdentity = { ...bundle, identity: bundleOf(alice, 'alice').identity };
    await expectCode(initiateSession(alice, foreignIdentity), 'invalid_signature');
  });

  it('rejects a signed but invalid KEM prekey', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob');

    // Coefficients of 0xFFF are not reduced modulo q, so encapsulation must reject the key.
    const invalidKey = new Uint8Array(1568).fill(0xff);
    const signature = await ed25519.sign(fromBase64Url(bob.identity.privateKey, 'seed'), concatBytes(Uint8Array.of(0x08), invalidKey));
    const forged = { ...bundle, kemPrekey: { ...bundle.kemPrekey, publicKey: toBase64Url(invalidKey), signature: toBase64Url(signature) } };
    await expectCode(initiateSession(alice, forged), 'invalid_bundle');
  });

  it('rejects malformed bundles with the field name', async () => {
    const alice = await smallAccount();
    const bundle = bundleOf(await smallAccount(), 'bob');

    const missing = { ...bundle } as Record<string, unknown>;
    delete missing.kemPrekey;
    expect((await expectCode(initiateSession(alice, missing), 'invalid_bundle')).message).toContain('kemPrekey');
    await expectCode(initiateSession(alice, { ...bundle, extra: 1 }), 'invalid_bundle');
    await expectCode(initiateSession(alice, { ...bundle, signedPrekey: { ...bundle.signedPrekey, publicKey: 'AAAA' } }), 'invalid_bundle');
    await expectCode(initiateSession(alice, { ...bundle, profile: 'Bob!' }), 'invalid_bundle');
    await expectCode(initiateSession(alice, null), 'invalid_bundle');
  });

  it('decrypts first messages for the previous signed prekey during the grace period', async () => {
    const alice = await smallAccount();
    const start = 1_700_000_000_000;
    const bob = await smallAccount(start);
    const oldBundle = bundleOf(bob, 'bob');

    const day = 24 * 60 * 60 * 1000;
    const rotated = await rotatePrekeys(bob, { now: start + 8 * day });
    expect(rotated.rotated).toBe(true);
    expect(rotated.account.signedPrekeys.map((key) => key.keyId)).toEqual([1, 2]);

    const first = await encryptMessage((await initiateSession(alice, oldBundle)).record, 'sent before rotation');
    const accepted = await decryptEnvelope(rotated.account, null, first.envelope, { now: start + 9 * day });
    expect(decoder.decode(accepted.plaintext)).toBe('sent before rotation');

    await expectCode(decryptEnvelope(rotated.account, null, first.envelope, { now: start + 8 * day + limits.SIGNED_PREKEY_GRACE_MS }), 'unknown_prekey');
    const expired = await rotatePrekeys(rotated.account, { now: start + 8 * day + limits.SIGNED_PREKEY_GRACE_MS });
    expect(expired.account.signedPrekeys.map((key) => key.keyId)).not.toContain(1);
    await expectCode(decryptEnvelope(expired.account, null, first.envelope, { now: start + 9 * day }), 'unknown_prekey');
  });

  it('keeps both sessions when both sides start at once', async () => {
    const alice = await smallAccount();
    let bob = await smallAccount();

    const aliceStart = await initiateSession(alice, bundleOf(bob, 'bob'));
    const bobStart = await initiateSession(bob, bundleOf(alice, 'alice'));
    const fromAlice = await encryptMessage(aliceStart.record, 'from alice');
    const fromBob = await encryptMessage(bobStart.record, 'from bob');

    const bobReceives = await decryptEnvelope(bob, bobStart.record ?? null, fromAlice.envelope);
    bob = bobReceives.account;
    const aliceReceives = await decryptEnvelope(alice, fromAlice.record, fromBob.envelope);
    expect(decoder.decode(bobReceives.plaintext)).toBe('from alice');
    expect(decoder.decode(aliceReceives.plaintext)).toBe('from bob');

    let aliceRecord = aliceReceives.record;
    let bobRecord = fromBob.record.sessions.length > 0 ? bobReceives.record : bobReceives.record;
    for (let round = 0; round < 3; round++) {
      const a = await encryptMessage(aliceRecord, `a${round}`);
      aliceRecord = a.record;
      const b = await decryptEnvelope(bob, bobRecord, a.envelope);
      bobRecord = b.record;
      expect(decoder.decode(b.plaintext)).toBe(`a${round}`);

      const c = await encryptMessage(bobRecord, `b${round}`);
      bobRecord = c.record;
      const d = await decryptEnvelope(alice, aliceRecord, c.envelope);
      aliceRecord = d.record;
      expect(decoder.decode(d.plaintext)).toBe(`b${round}`);
    }
  });
});

describe('identity changes', () => {
  it('rejects a changed identity by default', async () => {
    const { alice, aliceRecord } = await establishedPair();
    const impostor = await smallAccount();

    await expectCode(initiateSession(alice, bundleOf(impostor, 'bob'), { record: aliceRecord }), 'untrusted_identity');
  });

  it('accepts a changed identity with a warning', async () => {
    const { alice, aliceRecord } = await establishedPair();
    const newBob = await smallAccount();

    const started = await initiateSession(alice, bundleOf(newBob, 'bob'), { record: aliceRecord, identityPolicy: 'accept-and-warn' });
    expect(started.identityChanged).toBe(true);
    expect(started.record.sessions).toHaveLength(1);
    expect(started.record.sessions[0]!.remoteIdentityKey).toBe(newBob.identity.publicKey);
  });

  it('detects a changed identity in a first message', async () => {
    const { bob, bobRecord } = await establishedPair();
    const impostor = await smallAccount();
    const forged = await encryptMessage((await initiateSession(impostor, bundleOf(bob, 'bob', { oneTimeIndex: 1, kemIndex: 1 }))).record, 'it is me');

    await expectCode(decryptEnvelope(bob, bobRecord, forged.envelope), 'untrusted_identity');
    const accepted = await decryptEnvelope(bob, bobRecord, forged.envelope, { identityPolicy: 'accept-and-warn' });
    expect(accepted.identityChanged).toBe(true);
    expect(decoder.decode(accepted.plaintext)).toBe('it is me');
  });

  it('checks the identity the app trusts', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const trusted = (await smallAccount()).identity.publicKey;

    await expectCode(initiateSession(alice, bundleOf(bob, 'bob'), { knownIdentityKey: trusted }), 'untrusted_identity');
    const same = await initiateSession(alice, bundleOf(bob, 'bob'), { knownIdentityKey: bob.identity.publicKey });
    expect(same.identityChanged).toBe(false);
  });
});

describe('ratchet messages', () => {
  it('reports a replay as a duplicate', async () => {
    const { alice, bob, aliceRecord, bobRecord } = await establishedPair();
    const sent = await encryptMessage(aliceRecord, 'once');
    const received = await decryptEnvelope(bob, bobRecord, sent.envelope);

    const error = await expectCode(decryptEnvelope(bob, received.record, sent.envelope), 'duplicate_message');
    expect(error.details.counter).toBe(0);

    // A replay from a chain the receiver ratcheted away from is a duplicate too.
    const answer = await encryptMessage(received.record, 'answer');
    const aliceAfter = await decryptEnvelope(alice, sent.record, answer.envelope);
    const next = await encryptMessage(aliceAfter.record, 'new chain');
    const bobAfter = await decryptEnvelope(bob, answer.record, next.envelope);
    await expectCode(decryptEnvelope(bob, bobAfter.record, sent.envelope), 'duplicate_message');
  });

  it('reports a replayed first message as a duplicate', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const first = await encryptMessage((await initiateSession(alice, bundleOf(bob, 'bob'))).record, 'hello');
    const accepted = await decryptEnvelope(bob, null, first.envelope);

    await expectCode(decryptEnvelope(accepted.account, accepted.record, first.envelope), 'duplicate_message');
  });

  it('decrypts out of order and reports skipped keys once', async () => {
    const { bob, aliceRecord, bobRecord } = await establishedPair();
    let record = aliceRecord;
    const envelopes: Envelope[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await encryptMessage(record, `m${i}`);
      record = sent.record;
      envelopes.push(sent.envelope);
    }

    let receiver = bobRecord;
    for (const index of [4, 0, 2, 1, 3]) {
      const result = await decryptEnvelope(bob, receiver, envelopes[index]!);
      expect(decoder.decode(result.plaintext)).toBe(`m${index}`);
      receiver = result.record;
    }
    expect(receiver.sessions[0]!.ratchet.skippedMessageKeys).toHaveLength(0);
    await expectCode(decryptEnvelope(bob, receiver, envelopes[2]!), 'duplicate_message');
  });

  it('rejects a skip beyond the bound', async () => {
    const { bob, aliceRecord, bobRecord } = await establishedPair();
    const sent = await encryptMessage(aliceRecord, 'far');
    const farAhead = { ...sent.envelope, counter: limits.MAX_SKIP + 1 };

    const error = await expectCode(decryptEnvelope(bob, bobRecord, farAhead), 'too_far_ahead');
    expect(error.details).toEqual({ counter: limits.MAX_SKIP + 1, max: limits.MAX_SKIP });
  });

  it('accepts a skip of exactly the bound', async () => {
    const { bob, aliceRecord, bobRecord } = await establishedPair();
    let record = aliceRecord;
    let last: Envelope | undefined;
    for (let i = 0; i <= limits.MAX_SKIP; i++) {
      const sent = await encryptMessage(record, `m${i}`);
      record = sent.record;
      last = sent.envelope;
    }

    const result = await decryptEnvelope(bob, bobRecord, last!);
    expect(decoder.decode(result.plaintext)).toBe(`m${limits.MAX_SKIP}`);
    expect(result.record.sessions[0]!.ratchet.skippedMessageKeys).toHaveLength(limits.MAX_SKIP);
  });

  it('evicts the oldest skipped keys beyond the cap', async () => {
    const { alice, bob, aliceRecord, bobRecord } = await establishedPair();
    let aliceState = aliceRecord;
    let bobState = bobRecord;
    const firstChain: Envelope[] = [];

    // Three chains of 900 skipped keys each: 2,700 skipped, 2,000 kept.
    for (let chain = 0; chain < 3; chain++) {
      let last: Envelope | undefined;
      for (let i = 0; i <= 900; i++) {
        const sent = await encryptMessage(aliceState, `c${chain}m${i}`);
        aliceState = sent.record;
        last = sent.envelope;
        if (chain === 0) {
          firstChain.push(sent.envelope);
        }
      }
      const received = await decryptEnvelope(bob, bobState, last!);
      const answer = await encryptMessage(received.record, `answer ${chain}`);
      bobState = answer.record;
      aliceState = (await decryptEnvelope(alice, aliceState, answer.envelope)).record;
    }

    const skipped = bobState.sessions[0]!.ratchet.skippedMessageKeys;
    expect(skipped).toHaveLength(limits.MAX_STORED_SKIPPED_KEYS);
    await expectCode(decryptEnvelope(bob, bobState, firstChain[0]!), 'duplicate_message');
    const kept = await decryptEnvelope(bob, bobState, firstChain[899]!);
    expect(decoder.decode(kept.plaintext)).toBe('c0m899');
  });

  it('rejects every single-bit flip of a message and keeps the state', async () => {
    const { bob, aliceRecord, bobRecord } = await establishedPair();
    const sent = await encryptMessage(aliceRecord, 'sixteen bytes!!!');
    const text = JSON.stringify(sent.envelope);
    const before = serializeSessionRecord(bobRecord);

    for (let bit = 0; bit < text.length * 8; bit++) {
      const tampered = flipBit(text, bit);
      const error = await (async () => {
        try {
          await decryptEnvelope(bob, bobRecord, parseEnvelope(tampered));
          return undefined;
        } catch (caught) {
          return caught;
        }
      })();
      expect(error, `bit ${bit} of the envelope text was accepted`).toBeInstanceOf(ProtocolError);
    }

    for (const field of ['ratchetKey', 'ciphertext'] as const) {
      const bytes = fromBase64Url(sent.envelope[field], field).length;
      for (let bit = 0; bit < bytes * 8; bit++) {
        const tampered = { ...sent.envelope, [field]: flipBase64Bit(sent.envelope[field], bit) };
        const error = await expectCode(decryptEnvelope(bob, bobRecord, tampered), field === 'ratchetKey' && bit === 255 ? 'invalid_envelope' : 'decryption_failed');
      }
    }
    for (const field of ['counter', 'previousCounter'] as const) {
      for (let bit = 0; bit < 32; bit++) {
        const tampered = { ...sent.envelope, [field]: (sent.envelope[field] ^ (1 << bit)) >>> 0 };
        const error = await decryptEnvelope(bob, bobRecord, tampered).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, `${field} bit ${bit}`).toBeInstanceOf(ProtocolError);
      }
    }

    expect(serializeSessionRecord(bobRecord)).toBe(before);
    const genuine = await decryptEnvelope(bob, bobRecord, parseEnvelope(text));
    expect(decoder.decode(genuine.plaintext)).toBe('sixteen bytes!!!');
  });

  it('rejects single-bit flips of a first message and keeps the prekeys', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const first = await encryptMessage((await initiateSession(alice, bundleOf(bob, 'bob'))).record, 'hello');
    const envelope = first.envelope as Extract<Envelope, { type: 'prekey' }>;
    const fields = ['identityKey', 'baseKey', 'ratchetKey', 'ciphertext', 'kemCiphertext'] as const;

    for (const field of fields) {
      const bits = fromBase64Url(envelope[field], field).length * 8;
      // Every bit of the short fields; every 7th bit of the 12,544-bit KEM ciphertext keeps the run short.
      const step = field === 'kemCiphertext' ? 7 : 1;
      for (let bit = 0; bit < bits; bit += step) {
        const tampered = { ...envelope, [field]: flipBase64Bit(envelope[field], bit) };
        const error = await decryptEnvelope(bob, null, tampered).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, `${field} bit ${bit}`).toBeInstanceOf(ProtocolError);
      }
    }
    for (const field of ['signedPrekeyId', 'oneTimePrekeyId', 'kemPrekeyId', 'counter', 'previousCounter'] as const) {
      for (let bit = 0; bit < 31; bit++) {
        const tampered = { ...envelope, [field]: ((envelope[field] ?? 0) ^ (1 << bit)) >>> 0 };
        const error = await decryptEnvelope(bob, null, tampered).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, `${field} bit ${bit}`).toBeInstanceOf(ProtocolError);
      }
    }

    const accepted = await decryptEnvelope(bob, null, envelope);
    expect(decoder.decode(accepted.plaintext)).toBe('hello');
  });

  it('rejects a tampered repeat of an accepted first message', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const first = await encryptMessage((await initiateSession(alice, bundleOf(bob, 'bob'))).record, 'one');
    const second = await encryptMessage(first.record, 'two');
    const accepted = await decryptEnvelope(bob, null, first.envelope);
    const envelope = second.envelope as Extract<Envelope, { type: 'prekey' }>;

    const tampered = { ...envelope, kemCiphertext: flipBase64Bit(envelope.kemCiphertext, 3) };
    await expectCode(decryptEnvelope(accepted.account, accepted.record, tampered), 'decryption_failed');
    const genuine = await decryptEnvelope(accepted.account, accepted.record, envelope);
    expect(decoder.decode(genuine.plaintext)).toBe('two');
  });

  it('rejects a message without a session', async () => {
    const { bob, aliceRecord } = await establishedPair();
    const sent = await encryptMessage(aliceRecord, 'hello');
    await expectCode(decryptEnvelope(bob, null, sent.envelope), 'no_session');
    await expectCode(encryptMessage({ format: 'parley.session', v: 1, sessions: [] }, 'x'), 'no_session');
  });

  it('rejects a forged message on the initial chain', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob');
    const started = await initiateSession(alice, bundle);
    const sent = await encryptMessage(started.record, 'hello');

    // The initiator's DHr is the signed prekey, with no receiving chain behind it yet.
    const forged = { ...sent.envelope, type: 'message', ratchetKey: bundle.signedPrekey.publicKey, counter: 0, previousCounter: 0 };
    delete (forged as Record<string, unknown>).identityKey;
    for (const field of ['baseKey', 'signedPrekeyId', 'oneTimePrekeyId', 'kemPrekeyId', 'kemCiphertext']) {
      delete (forged as Record<string, unknown>)[field];
    }
    await expectCode(decryptEnvelope(alice, sent.record, forged), 'decryption_failed');
    await expectCode(decryptEnvelope(alice, sent.record, { ...forged, counter: 3 }), 'decryption_failed');
  });

  it('rejects a message from another session', async () => {
    const pair = await establishedPair();
    const other = await establishedPair();
    const sent = await encryptMessage(other.aliceRecord, 'not for you');
    await expectCode(decryptEnvelope(pair.bob, pair.bobRecord, sent.envelope), 'decryption_failed');
  });

  it('never leaves secrets in error messages', async () => {
    const { bob, aliceRecord, bobRecord } = await establishedPair();
    const sent = await encryptMessage(aliceRecord, 'secret plaintext');
    const tampered = { ...sent.envelope, ciphertext: flipBase64Bit(sent.envelope.ciphertext, 0) };
    const error = await expectCode(decryptEnvelope(bob, bobRecord, tampered), 'decryption_failed');

    const secrets = [bob.identity.privateKey, bobRecord.sessions[0]!.ratchet.rootKey, 'secret plaintext'];
    for (const secret of secrets) {
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    }
  });
});

export type { AccountState, SessionRecord };
