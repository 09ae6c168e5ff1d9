import { afterAll, describe, expect, it } from 'vitest';

import type { ReceivedMessage } from '../../packages/client/src/chat/chat.ts';
import { closeUser, createUser, database, restartGateway, waitFor, type TestUser } from './helpers.ts';

/** Deterministic generator (mulberry32), so a failing interleaving can be replayed by its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOTAL = 1000;
const OFFLINE_FROM = 250;
const OFFLINE_UNTIL = 500;
const RESTART_AT = 700;
const SEED = Number(process.env.PARLEY_E2E_SEED ?? 20261204);

describe('1,000 messages between two users', () => {
  const sql = database();
  const users: TestUser[] = [];

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
    await sql.end();
  });

  it('arrive exactly once, in order per sender', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    const aliceChannel: string[] = [];
    alice.chat.on('connection', ({ status }) => aliceChannel.push(status));
    await alice.chat.start();
    await bob.chat.start();

    const next = random(SEED);
    const sentBy = new Map<string, string[]>([
      [alice.profile, []],
      [bob.profile, []],
    ]);
    let bobOnline = true;
    let restarted = false;

    for (let step = 0; step < TOTAL; step++) {
      if (step === OFFLINE_FROM) {
        await bob.chat.stop();
        bobOnline = false;
      }
      if (step === OFFLINE_UNTIL) {
        await bob.chat.start();
        bobOnline = true;
      }
      if (step === RESTART_AT) {
        restarted = await restartGateway();
      }

      // While bob is offline only alice sends, so his inbox fills up.
      const fromAlice = !bobOnline || next() < 0.5;
      const [sender, recipient] = fromAlice ? [alice, bob] : [bob, alice];
      const sent = await sender.chat.send(recipient.profile, `message ${step} from ${sender.profile}`);
      sentBy.get(sender.profile)!.push(sent.id);
    }

    const aliceSent = sentBy.get(alice.profile)!;
    const bobSent = sentBy.get(bob.profile)!;
    await waitFor(() => bob.received.length >= aliceSent.length, `bob to receive ${aliceSent.length} messages`, 120_000);
    await waitFor(() => alice.received.length >= bobSent.length, `alice to receive ${bobSent.length} messages`, 120_000);
    await alice.chat.sync();
    await bob.chat.sync();

    const ids = (messages: ReceivedMessage[]) => messages.map((message) => message.id);
    expect(ids(bob.received)).toEqual(aliceSent);
    expect(ids(alice.received)).toEqual(bobSent);
    expect(new Set(ids(bob.received)).size).toBe(aliceSent.length);
    expect(aliceSent.length + bobSent.length).toBe(TOTAL);
    expect(restarted || process.env.SUPABASE_URL !== undefined).toBe(true);

    // The restart dropped alice's websocket; Realtime rejoined her channel.
    if (restarted) {
      await waitFor(() => aliceChannel.at(-1) === 'subscribed', 'alice to rejoin her inbox channel');
      expect(aliceChannel[0]).toBe('subscribed');
      expect(aliceChannel.slice(1).some((status) => status !== 'subscribed')).toBe(true);
    }

    await waitFor(async () => {
      const [row] = await sql`
        select count(*)::int as pending from public.chat_topics
        where to_profile in ${sql([alice.profile, bob.profile])}`;
      return row!.pending === 0;
    }, 'chat_topics to be empty for both users', 30_000);
  });
});
