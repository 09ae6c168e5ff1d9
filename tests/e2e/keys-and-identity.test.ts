import { afterAll, describe, expect, it } from 'vitest';

import { Chat, type IdentityChange } from '../../packages/client/src/chat/chat.ts';
import { TransportError } from '../../packages/client/src/chat/retry.ts';
import { SupabaseTransport } from '../../packages/client/src/chat/transport.ts';
import { MemoryStore } from '../../packages/client/src/store/memory.ts';
import { closeUser, createUser, database, waitFor, type TestUser } from './helpers.ts';

describe('keys over time', () => {
  const sql = database();
  const users: TestUser[] = [];

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
    await sql.end();
  });

  async function serverCounts(profile: string): Promise<{ oneTime: number; kem: number; signedPrekeyId: number }> {
    const counts = await users.find((user) => user.profile === profile)!.client.rpc('prekey_counts');
    const data = counts.data as { oneTimePrekeys: number; kemPrekeys: number; signedPrekeyId: number };
    return { oneTime: data.oneTimePrekeys, kem: data.kemPrekeys, signedPrekeyId: data.signedPrekeyId };
  }

  it('replenishes one-time prekeys below the threshold', async () => {
    const bob = await createUser('bob', { prekeyThreshold: 100 });
    const alice = await createUser('alice');
    users.push(bob, alice);
    expect((await serverCounts(bob.profile)).oneTime).toBe(100);

    await bob.chat.start();
    await alice.chat.send(bob.profile, 'uses one prekey of each kind');
    await waitFor(() => bob.received.length === 1, 'bob to receive the first message');
    await waitFor(async () => (await serverCounts(bob.profile)).oneTime === 199, 'bob to publish 100 new one-time prekeys');
    expect((await serverCounts(bob.profile)).kem).toBe(199);
  });

  it('rotates the signed prekey on its schedule', async () => {
    const carol = await createUser('carol', { signedPrekeyRotationMs: 1_000 });
    users.push(carol);
    const before = (await serverCounts(carol.profile)).signedPrekeyId;

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await carol.chat.maintainKeys();
    const after = (await serverCounts(carol.profile)).signedPrekeyId;
    expect(after).toBeGreaterThan(before);

    // A first message built on the new signed prekey still decrypts.
    const dave = await createUser('dave');
    users.push(dave);
    await carol.chat.start();
    await dave.chat.send(carol.profile, 'after rotation');
    await waitFor(() => carol.received.length === 1, 'carol to receive after rotation');
  });

  it('honours the bundle claim rate limit', async () => {
    const target = await createUser('erin');
    const claimer = await createUser('frank');
    users.push(target, claimer);
    const transport = new SupabaseTransport(claimer.client, {
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, rateLimitDelayMs: 10, maxRetryAfterMs: 5_000 },
    });

    let limited: TransportError | undefined;
    for (let i = 0; i < 20 && limited === undefined; i++) {
      try {
        await transport.fetchBundle(target.profile);
      } catch (error) {
        limited = error as TransportError;
      }
    }
    expect(limited).toBeInstanceOf(TransportError);
    expect(limited!.status).toBe(429);
    expect(limited!.retryAfterMs).toBeGreaterThan(5_000);
  });
});

describe('identity changes', () => {
  const users: TestUser[] = [];

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
  });

  it('are announced before the first message of the new identity', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    const events: string[] = [];
    bob.chat.on('identityChanged', (change) => events.push(`identity ${change.profile} ${change.accepted}`));
    bob.chat.on('message', (message) => events.push(`message ${message.text}`));
    await bob.chat.start();

    await alice.chat.send(bob.profile, 'from the old identity');
    await waitFor(() => events.length === 1, 'the first message');
    const before = await bob.chat.safetyNumber(alice.profile);

    // Alice loses her store and gives her profile a new identity key.
    const reinstalled = new Chat(alice.client, new MemoryStore());
    await reinstalled.register(alice.profile, { replaceIdentity: true });
    await reinstalled.send(bob.profile, 'from the new identity');

    await waitFor(() => events.length === 3, 'the change and the second message');
    expect(events).toEqual([
      'message from the old identity',
      `identity ${alice.profile} true`,
      'message from the new identity',
    ]);
    const after = await bob.chat.safetyNumber(alice.profile);
    expect(after.digits).not.toBe(before.digits);
    expect(after.source).toBe('trusted');
  });

  it('block the new identity under the reject policy until trusted', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob', { identityPolicy: 'reject' });
    users.push(alice, bob);
    const changes: IdentityChange[] = [];
    const errors: string[] = [];
    bob.chat.on('identityChanged', (change) => changes.push(change));
    bob.chat.on('error', (event) => errors.push(event.kind === 'topic' ? event.code : event.kind));
    await bob.chat.start();

    await alice.chat.send(bob.profile, 'hello');
    await waitFor(() => bob.received.length === 1, 'the first message');

    const reinstalled = new Chat(alice.client, new MemoryStore());
    await reinstalled.register(alice.profile, { replaceIdentity: true });
    await reinstalled.send(bob.profile, 'rejected');
    await waitFor(() => errors.length === 1, 'the rejected message to be reported');
    expect(errors).toEqual(['untrusted_identity']);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.accepted).toBe(false);
    expect(bob.received).toHaveLength(1);

    await expect(bob.chat.send(alice.profile, 'blocked')).rejects.toMatchObject({ code: 'identity_changed' });

    const trusted = await bob.chat.trustIdentity(alice.profile);
    expect(trusted.identityKey).toBe(changes[0]!.identityKey);
    await reinstalled.send(bob.profile, 'accepted after trust');
    await waitFor(() => bob.received.length === 2, 'the message after trust');
    expect(bob.received[1]!.text).toBe('accepted after trust');

    // Bob's replies reach the new installation.
    const reinstalledReceived: string[] = [];
    reinstalled.on('message', (message) => reinstalledReceived.push(message.text ?? ''));
    await reinstalled.start();
    await bob.chat.send(alice.profile, 'reply to the new identity');
    await waitFor(() => reinstalledReceived.length === 1, 'the reply at the new installation');
    expect(reinstalledReceived).toEqual(['reply to the new identity']);
    await reinstalled.stop();
  });
});

describe('resilience', () => {
  const sql = database();
  const users: TestUser[] = [];

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
    await sql.end();
  });

  it('coalesces a burst of notifications and reports undecryptable topics', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    const errors: Array<{ topicId: number; from: string; code: string }> = [];
    bob.chat.on('error', (event) => {
      if (event.kind === 'topic') {
        errors.push({ topicId: event.topicId, from: event.from, code: event.code });
      }
    });
    await bob.chat.start();
    const fetchesBefore = bob.chat.inboxFetches;

    // 50 topics in one statement (the per-pair limit is 60 a second): 50 notifications at once, none decryptable.
    const rows = await sql`
      insert into public.chat_topics (from_profile, to_profile, payload)
      select ${alice.profile}, ${bob.profile}, jsonb_build_object('v', 1, 'type', 'message', 'n', n)
      from generate_series(1, 50) as n
      returning id`;
    const ids = rows.map((row) => Number(row.id));

    await waitFor(() => errors.length === 50, 'bob to report 50 undecryptable topics');
    expect(errors.map((error) => error.topicId)).toEqual(ids);
    expect(new Set(errors.map((error) => error.from))).toEqual(new Set([alice.profile]));
    expect(new Set(errors.map((error) => error.code))).toEqual(new Set(['invalid_envelope']));
    expect(bob.chat.inboxFetches - fetchesBefore).toBeLessThanOrEqual(5);

    await bob.chat.sync();
    const [pending] = await sql`select count(*)::int as n from public.chat_topics where to_profile = ${bob.profile}`;
    expect(pending!.n).toBe(0);

    // The inbox is not blocked: a real message still arrives.
    await alice.chat.send(bob.profile, 'after the garbage');
    await waitFor(() => bob.received.length === 1, 'the real message');
  });

  it('keeps the channel authorized after a token refresh', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    await bob.chat.start();

    const before = (await bob.client.auth.getSession()).data.session!.access_token;
    const { error } = await bob.client.auth.refreshSession();
    expect(error).toBeNull();
    const after = (await bob.client.auth.getSession()).data.session!.access_token;
    expect(after).not.toBe(before);

    const fetchesBefore = bob.chat.inboxFetches;
    await alice.chat.send(bob.profile, 'after the refresh');
    await waitFor(() => bob.received.length === 1, 'live delivery after the refresh', 10_000);
    expect(bob.chat.inboxFetches).toBeGreaterThan(fetchesBefore);
  });

  it('fails start with a clear error when the user is signed out', async () => {
    const carol = await createUser('carol');
    users.push(carol);
    await carol.client.auth.signOut();
    await expect(carol.chat.start()).rejects.toMatchObject({ code: 'not_signed_in' });
  });

  it('rejects a message to an unknown profile', async () => {
    const dave = await createUser('dave');
    users.push(dave);
    await expect(dave.chat.send('nobody-is-called-this', 'hi')).rejects.toMatchObject({ code: 'unknown_profile' });
  });
});
