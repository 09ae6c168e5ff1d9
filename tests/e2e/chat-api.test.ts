// Chat API details an app builds on: which claim conflict a registration
// hit, the contact list, the id of a message whose send failed, the own
// half of the safety number, and resuming an interrupted identity reset.
import { afterAll, describe, expect, it } from 'vitest';

import { Chat } from '../../packages/client/src/chat/chat.ts';
import { ChatError } from '../../packages/client/src/chat/errors.ts';
import { claimConflict } from '../../packages/client/src/chat/errors-map.ts';
import { ownSafetyCode } from '../../packages/client/src/chat/fingerprint.ts';
import { postgrestError } from '../../packages/client/src/chat/transport.ts';
import { createAccount, publicIdentity } from '../../packages/client/src/protocol/account.ts';
import { MemoryStore } from '../../packages/client/src/store/memory.ts';
import { loadAccount, saveAccount } from '../../packages/client/src/store/store.ts';
import { closeUser, createUser, signedInClient, uniqueProfile, waitFor, type TestUser } from './helpers.ts';

async function rejection(promise: Promise<unknown>): Promise<ChatError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ChatError);
    return error as ChatError;
  }
  throw new Error('expected the call to fail with a ChatError');
}

describe('chat API', () => {
  const users: TestUser[] = [];

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
  });

  it('classifies the database claim conflicts', async () => {
    const alice = await createUser('alice');
    users.push(alice);
    const identity = publicIdentity(await createAccount());

    const second = await alice.client.from('chat_participants').insert([{ profile: uniqueProfile('second'), payload: identity }]);
    expect(second.error?.code).toBe('23505');
    expect(claimConflict(postgrestError('claim profile', second))).toBe('owner');

    const other = await signedInClient();
    const takenName = await other.from('chat_participants').insert([{ profile: alice.profile, payload: identity }]);
    expect(takenName.error?.code).toBe('23505');
    expect(claimConflict(postgrestError('claim profile', takenName))).toBe('profile');
  });

  it('register names the profile a user already owns', async () => {
    const alice = await createUser('alice');
    users.push(alice);
    const requested = uniqueProfile('renamed');

    const error = await rejection(new Chat(alice.client, new MemoryStore()).register(requested));
    expect(error.code).toBe('already_registered');
    expect(error.message).toContain(JSON.stringify(alice.profile));
    expect(error.message).toContain(JSON.stringify(requested));
  });

  it('register reports a name another user owns as taken', async () => {
    const alice = await createUser('alice');
    users.push(alice);
    const store = new MemoryStore();

    const error = await rejection(new Chat(await signedInClient(), store).register(alice.profile));
    expect(error.code).toBe('profile_taken');
    expect(error.message).toContain(JSON.stringify(alice.profile));
    expect(await store.transaction((tx) => tx.keys())).toEqual([]);
  });

  it('concurrent registrations of one user name the winner', async () => {
    const client = await signedInClient();
    const names = [uniqueProfile('first'), uniqueProfile('second')];
    const chats = names.map(() => new Chat(client, new MemoryStore()));

    const results = await Promise.allSettled(chats.map((chat, index) => chat.register(names[index]!)));
    const won = results.findIndex((result) => result.status === 'fulfilled');
    expect(won).not.toBe(-1);
    const lost = results[1 - won]!;
    expect(lost.status).toBe('rejected');
    const error = (lost as PromiseRejectedResult).reason as ChatError;
    expect(error.code).toBe('already_registered');
    expect(error.message).toContain(JSON.stringify(names[won]));
    client.realtime.disconnect();
  });

  it('contacts lists sessions and history', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    const carol = await createUser('carol');
    users.push(alice, bob, carol);
    await alice.chat.start();

    expect(await alice.chat.contacts()).toEqual([]);
    await alice.chat.send(carol.profile, 'first to carol');
    await alice.chat.send(bob.profile, 'then to bob');

    const contacts = await alice.chat.contacts();
    expect(contacts.map((contact) => contact.profile)).toEqual([bob.profile, carol.profile]);
    expect(contacts.every((contact) => contact.hasSession)).toBe(true);
    expect(contacts.every((contact) => contact.lastActivity !== undefined)).toBe(true);

    await carol.chat.send(alice.profile, 'carol answers');
    await waitFor(() => alice.received.length === 1, 'alice to receive from carol');
    expect((await alice.chat.contacts()).map((contact) => contact.profile)).toEqual([carol.profile, bob.profile]);
  });

  it('send failure after commit carries the message id', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    await alice.chat.send(bob.profile, 'starts the session');

    const early = await rejection(alice.chat.send(uniqueProfile('nobody'), 'not stored'));
    expect(early.code).toBe('unknown_profile');
    expect(early.messageId).toBeUndefined();

    await alice.client.auth.signOut();
    const error = await rejection(alice.chat.send(bob.profile, 'stored, not sent'));
    expect(error.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(error.message).toContain(error.messageId);

    const history = await alice.chat.history(bob.profile);
    const stored = history.find((entry) => entry.message.id === error.messageId);
    expect(stored?.direction).toBe('out');
    expect(new TextDecoder().decode(stored?.message.body)).toBe('stored, not sent');
  });

  it('own safety code is half of a contact number', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);

    const own = await alice.chat.ownSafetyCode();
    expect(own.digits).toMatch(/^\d{30}$/);
    expect(own.formatted.split(' ')).toHaveLength(6);
    const account = await alice.store.transaction((tx) => loadAccount(tx));
    expect(own.identityKey).toBe(account!.identity.publicKey);
    expect(await ownSafetyCode(alice.profile, account!)).toEqual(own);

    const number = (await bob.chat.safetyNumber(alice.profile)).digits;
    expect([number.slice(0, 30), number.slice(30)]).toContain(own.digits);
    const bobs = await bob.chat.ownSafetyCode();
    expect([number.slice(0, 30), number.slice(30)].sort()).toEqual([own.digits, bobs.digits].sort());
  });

  it('replaceIdentity resumes an interrupted reset', async () => {
    const alice = await createUser('alice');
    users.push(alice);
    await alice.chat.start();
    const running = await rejection(alice.chat.register(alice.profile, { replaceIdentity: true }));
    expect(running.code).toBe('invalid_argument');
    await alice.chat.stop();

    // The state a reset leaves when publishing fails: a new account in the
    // store, the profile marked claimed, the old identity on the server.
    await alice.store.transaction(async (tx) => {
      await saveAccount(tx, await createAccount());
      await tx.put('chat/profile', { profile: alice.profile, state: 'claimed', userId: (await alice.client.auth.getUser()).data.user!.id });
    });
    const reopened = new Chat(alice.client, alice.store);
    expect(await reopened.load()).toBeUndefined();

    const plain = await rejection(reopened.register(alice.profile));
    expect(plain.code).toBe('already_registered');
    expect(plain.message).toContain('replaceIdentity');

    await reopened.register(alice.profile, { replaceIdentity: true });
    expect(reopened.profile).toBe(alice.profile);
    const account = await alice.store.transaction((tx) => loadAccount(tx));
    const published = await alice.client.from('chat_participants').select('payload').eq('profile', alice.profile).single();
    expect((published.data as { payload: { identityKey: string } }).payload.identityKey).toBe(account!.identity.publicKey);
  });
});
