/**
 * Property tests: random conversations with both sides sending, reordering,
 * drops, replays and state serialization at random points. The fast-check
 * seed is fixed, so a failure reproduces; fast-check prints the shrunk
 * command list.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  decryptEnvelope,
  deserializeAccount,
  deserializeSessionRecord,
  encryptMessage,
  initiateSession,
  ProtocolError,
  serializeAccount,
  serializeSessionRecord,
  type AccountState,
  type Envelope,
  type SessionRecord,
} from '../../src/protocol/index.ts';
import { toBase64Url } from '../../src/protocol/encoding.ts';
import { bundleOf, decoder, smallAccount } from './helpers.ts';

const SEED = 20_261_204;

type Side = 'alice' | 'bob';

type Command =
  | { kind: 'send'; from: Side }
  | { kind: 'deliver'; pick: number }
  | { kind: 'replay'; pick: number }
  | { kind: 'drop'; pick: number }
  | { kind: 'roundtrip'; side: Side };

const side = fc.constantFrom<Side>('alice', 'bob');
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: side.map((from) => ({ kind: 'send' as const, from })) },
  { weight: 4, arbitrary: fc.nat().map((pick) => ({ kind: 'deliver' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'replay' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'drop' as const, pick })) },
  { weight: 1, arbitrary: side.map((which) => ({ kind: 'roundtrip' as const, side: which })) },
);

interface Party {
  account: AccountState;
  record: SessionRecord | null;
}

interface InFlight {
  to: Side;
  envelope: Envelope;
  plaintext: string;
}

/** True when one of the receiver's sessions still remembers the chain of `envelope`, so a replay must be named a duplicate. */
function remembersChain(record: SessionRecord | null, envelope: Envelope): boolean {
  return (record?.sessions ?? []).some(
    (session) =>
      session.ratchet.receivingRatchetKey === envelope.ratchetKey ||
      session.ratchet.previousReceivingChains.some((chain) => chain.ratchetKey === envelope.ratchetKey) ||
      (envelope.type === 'prekey' && session.initiation?.baseKey === envelope.baseKey),
  );
}

async function runConversation(commands: Command[]): Promise<void> {
  const parties: Record<Side, Party> = {
    alice: { account: await smallAccount(), record: null },
    bob: { account: await smallAccount(), record: null },
  };
  parties.alice.record = (await initiateSession(parties.alice.account, bundleOf(parties.bob.account, 'bob'))).record;

  const inFlight: InFlight[] = [];
  const sent: InFlight[] = [];
  const delivered = new Set<string>();
  let nextId = 0;

  for (const step of commands) {
    switch (step.kind) {
      case 'send': {
        const sender = parties[step.from];
        if (sender.record === null || sender.record.sessions.length === 0) {
          break; // Bob has no session before Alice's first message arrives.
        }
        const plaintext = `${step.from}-${nextId++}`;
        const result = await encryptMessage(sender.record, plaintext);
        sender.record = result.record;
        const message: InFlight = { to: step.from === 'alice' ? 'bob' : 'alice', envelope: result.envelope, plaintext };
        inFlight.push(message);
        sent.push(message);
        break;
      }

      case 'deliver': {
        if (inFlight.length === 0) {
          break;
        }
        const [message] = inFlight.splice(step.pick % inFlight.length, 1);
        await deliver(parties[message!.to], message!, delivered);
        break;
      }

      case 'replay': {
        const deliveredMessages = sent.filter((message) => delivered.has(message.plaintext));
        if (deliveredMessages.length === 0) {
          break;
        }
        await deliver(parties[deliveredMessages[step.pick % deliveredMessages.length]!.to], deliveredMessages[step.pick % deliveredMessages.length]!, delivered);
        break;
      }

      case 'drop': {
        if (inFlight.length > 0) {
          inFlight.splice(step.pick % inFlight.length, 1);
        }
        break;
      }

      case 'roundtrip': {
        const party = parties[step.side];
        const account = deserializeAccount(JSON.parse(serializeAccount(party.account)));
        expect(account).toEqual(party.account);
        party.account = account;
        if (party.record !== null) {
          const record = deserializeSessionRecord(JSON.parse(serializeSessionRecord(party.record)));
          expect(record).toEqual(party.record);
          party.record = record;
        }
        break;
      }
    }
  }

  // Everything still in flight arrives at the end, in a fixed order, and must decrypt exactly once.
  while (inFlight.length > 0) {
    const message = inFlight.shift()!;
    await deliver(parties[message.to], message, delivered);
  }
}

async function deliver(receiver: Party, message: InFlight, delivered: Set<string>): Promise<void> {
  const before = receiver.record === null ? null : serializeSessionRecord(receiver.record);
  const accountBefore = serializeAccount(receiver.account);

  if (delivered.has(message.plaintext)) {
    const shouldBeDuplicate = remembersChain(receiver.record, message.envelope);
    const error = await decryptEnvelope(receiver.account, receiver.record, message.envelope).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error, `replay of ${message.plaintext} was accepted`).toBeInstanceOf(ProtocolError);
    if (shouldBeDuplicate) {
      expect((error as ProtocolError).code).toBe('duplicate_message');
    } else {
      expect(['duplicate_message', 'decryption_failed']).toContain((error as ProtocolError).code);
    }
    expect(receiver.record === null ? null : serializeSessionRecord(receiver.record)).toBe(before);
    expect(serializeAccount(receiver.account)).toBe(accountBefore);
    return;
  }

  const result = await decryptEnvelope(receiver.account, receiver.record, message.envelope);
  expect(decoder.decode(result.plaintext)).toBe(message.plaintext);
  receiver.record = result.record;
  receiver.account = result.account;
  delivered.add(message.plaintext);
}

describe('random conversations', () => {
  it('deliver every plaintext exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60 }), async (commands) => {
        await runConversation(commands);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('survive long one-sided bursts with reordering', async () => {
    const burst = fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constant<Command>({ kind: 'send', from: 'alice' }) },
        { weight: 1, arbitrary: fc.constant<Command>({ kind: 'send', from: 'bob' }) },
        { weight: 3, arbitrary: fc.nat().map((pick): Command => ({ kind: 'deliver', pick })) },
        { weight: 1, arbitrary: fc.nat().map((pick): Command => ({ kind: 'drop', pick })) },
      ),
      { minLength: 50, maxLength: 200 },
    );
    await fc.assert(
      fc.asyncProperty(burst, async (commands) => {
        await runConversation(commands);
      }),
      { seed: SEED + 1, numRuns: 15 },
    );
  });
});

describe('forged and malformed input', () => {
  it('fails only with ProtocolError', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const bundle = bundleOf(bob, 'bob');
    const started = await initiateSession(alice, bundle);
    const first = await encryptMessage(started.record, 'first');
    const accepted = await decryptEnvelope(bob, null, first.envelope);
    const reply = await encryptMessage(accepted.record, 'reply');

    const knownKeys = [
      bundle.signedPrekey.publicKey,
      first.envelope.ratchetKey,
      reply.envelope.ratchetKey,
      bundle.identity.identityKey,
    ];
    const key = fc.oneof(
      fc.constantFrom(...knownKeys),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => {
        bytes[31]! &= 0x7f;
        return toBase64Url(bytes);
      }),
    );
    const counter = fc.oneof(fc.integer({ min: 0, max: 1100 }), fc.constant(0xffffffff));
    const forgedMessage = fc.record({
      v: fc.constant(1),
      type: fc.constant('message'),
      ratchetKey: key,
      previousCounter: counter,
      counter,
      ciphertext: fc.uint8Array({ minLength: 16, maxLength: 64 }).map(toBase64Url),
    });
    const mutated = fc
      .tuple(fc.constantFrom<Record<string, unknown>>(first.envelope as never, reply.envelope as never), fc.string(), fc.anything())
      .map(([envelope, field, value]) => ({ ...envelope, [field]: value }));
    const receivers: Array<[AccountState, SessionRecord | null]> = [
      [alice, first.record],
      [accepted.account, accepted.record],
      [bob, null],
    ];

    await fc.assert(
      fc.asyncProperty(fc.oneof(forgedMessage, mutated), fc.nat({ max: receivers.length - 1 }), async (input, which) => {
        const [account, record] = receivers[which]!;
        const error = await decryptEnvelope(account, record, input).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(ProtocolError);
      }),
      { seed: SEED + 2, numRuns: 300 },
    );
  });
});
