import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ed25519 } from '../../packages/client/src/crypto/index.ts';

import { closeUser, createUser, database, signedInClient, waitFor, type TestUser } from './helpers.ts';

describe('a third user', () => {
  const sql = database();
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let pendingIds: number[];

  beforeAll(async () => {
    alice = await createUser('alice');
    bob = await createUser('bob');
    carol = await createUser('carol');
    await alice.chat.start();

    // Bob stays offline, so alice's topics wait in his inbox.
    for (let i = 0; i < 3; i++) {
      await alice.chat.send(bob.profile, `for bob only ${i}`);
    }
    const rows = await sql`select id from public.chat_topics where to_profile = ${bob.profile} order by id`;
    pendingIds = rows.map((row) => Number(row.id));
  });

  afterAll(async () => {
    await Promise.all([alice, bob, carol].filter(Boolean).map((user) => closeUser(user)));
    await sql.end();
  });

  it('sees pending topics for bob', () => {
    expect(pendingIds).toHaveLength(3);
  });

  it('cannot read bob topics over REST', async () => {
    const { data, error } = await carol.client.from('chat_topics').select('id, payload').eq('to_profile', bob.profile);
    expect(error).toBeNull();
    expect(data).toEqual([]);

    const all = await carol.client.from('chat_topics').select('id').in('id', pendingIds);
    expect(all.data).toEqual([]);
  });

  it('cannot acknowledge bob topics', async () => {
    const viaFunction = await carol.client.functions.invoke('acknowledge-topics', { body: { topicIds: pendingIds } });
    expect(viaFunction.error).toBeNull();
    expect(viaFunction.data).toEqual({ acknowledged: [] });

    const viaRpc = await carol.client.rpc('acknowledge_topics', { topic_ids: pendingIds });
    expect(viaRpc.data ?? []).toEqual([]);

    const viaDelete = await carol.client.from('chat_topics').delete().in('id', pendingIds).select('id');
    expect(viaDelete.data ?? []).toEqual([]);

    const [row] = await sql`select count(*)::int as n from public.chat_topics where id in ${sql(pendingIds)}`;
    expect(row!.n).toBe(3);
  });

  it('cannot change bob topics', async () => {
    const update = await carol.client.from('chat_topics').update({ payload: { v: 1, type: 'message' } }).in('id', pendingIds).select('id');
    expect(update.data ?? []).toEqual([]);

    const rows = await sql`select payload from public.chat_topics where id in ${sql(pendingIds)}`;
    for (const row of rows) {
      expect((row.payload as { ciphertext?: unknown }).ciphertext).toBeTypeOf('string');
    }
  });

  it('cannot claim or take over bob profile', async () => {
    // A well-formed identity key, so the attempts fail on ownership and not on the payload format.
    const { publicKey } = await ed25519.generateKeyPair();
    const identity = { v: 1, identityKey: Buffer.from(publicKey).toString('base64url') };
    const [before] = await sql`select owner_id, payload from public.chat_participants where profile = ${bob.profile}`;

    const takeOver = await carol.client.from('chat_participants').insert([{ profile: bob.profile, payload: identity }]);
    expect(takeOver.error?.code).toBe('23505');
    expect(takeOver.error?.message).toContain('chat_participants_profile_key');

    const rewrite = await carol.client.from('chat_participants').update({ payload: identity }).eq('profile', bob.profile).select('profile');
    expect(rewrite.data ?? []).toEqual([]);

    const secondProfile = await carol.client.from('chat_participants').insert([{ profile: `${carol.profile}-2`, payload: identity }]);
    expect(secondProfile.error?.code).toBe('23505');
    expect(secondProfile.error?.message).toContain('chat_participants_owner_id_key');

    const [after] = await sql`select owner_id, payload from public.chat_participants where profile = ${bob.profile}`;
    expect(after).toEqual(before);
    const [second] = await sql`select count(*)::int as n from public.chat_participants where profile = ${`${carol.profile}-2`}`;
    expect(second!.n).toBe(0);
  });

  it('cannot send as alice', async () => {
    const spoof = await carol.client.from('chat_topics').insert([{ from_profile: alice.profile, to_profile: bob.profile, payload: { v: 1, type: 'message' } }]);
    expect(spoof.error).not.toBeNull();
  });

  it('cannot join bob inbox channel', async () => {
    const client = carol.client;
    const notifications: unknown[] = [];
    const status = await new Promise<string>((resolve) => {
      const channel = client.channel(`inbox:${bob.profile}`, { config: { private: true } });
      channel.on('broadcast', { event: 'topic' }, (message) => notifications.push(message));
      channel.subscribe((state) => {
        if (state !== 'SUBSCRIBED' && state !== 'CLOSED') {
          resolve(state);
        } else if (state === 'SUBSCRIBED') {
          resolve(state);
        }
      });
    });
    expect(status).toBe('CHANNEL_ERROR');

    await alice.chat.send(bob.profile, 'after the join attempt');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(notifications).toEqual([]);
    await client.removeAllChannels();
  });

  it('leaves bob inbox intact for bob', async () => {
    await bob.chat.start();
    await waitFor(() => bob.received.length === 4, 'bob to receive all four messages');
    expect(bob.received.map((message) => message.text)).toEqual([
      'for bob only 0',
      'for bob only 1',
      'for bob only 2',
      'after the join attempt',
    ]);
  });

  it('cannot read anything without signing in', async () => {
    const anonymous = await signedInClient();
    await anonymous.auth.signOut();
    const { data } = await anonymous.from('chat_topics').select('id');
    expect(data ?? []).toEqual([]);
  });
});
