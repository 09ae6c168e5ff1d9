import { afterAll, describe, expect, it } from 'vitest';

import { MAX_MESSAGE_BYTES } from '../../packages/client/src/chat/chat.ts';
import { closeUser, createUser, database, waitFor, type TestUser } from './helpers.ts';

describe('two users', () => {
  const users: TestUser[] = [];
  const sql = database();

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
    await sql.end();
  });

  it('exchange a message each way', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    await alice.chat.start();
    await bob.chat.start();

    const sent = await alice.chat.send(bob.profile, 'hello bob');
    await waitFor(() => bob.received.length === 1, 'bob to receive the first message');
    expect(bob.received[0]!.text).toBe('hello bob');
    expect(bob.received[0]!.id).toBe(sent.id);
    expect(bob.received[0]!.from).toBe(alice.profile);

    await bob.chat.send(alice.profile, new Uint8Array([1, 2, 3]), { contentType: 'application/octet-stream' });
    await waitFor(() => alice.received.length === 1, 'alice to receive the reply');
    expect(alice.received[0]!.body).toEqual(new Uint8Array([1, 2, 3]));
    expect(alice.received[0]!.text).toBeUndefined();

    // The largest body fits the database's payload cap, also as a first message.
    const carol = await createUser('carol');
    users.push(carol);
    await carol.chat.start();
    const largest = new Uint8Array(MAX_MESSAGE_BYTES).map((_, i) => i % 251);
    await alice.chat.send(carol.profile, largest, { contentType: 'application/octet-stream' });
    await waitFor(() => carol.received.length === 1, 'carol to receive the largest message');
    expect(carol.received[0]!.body).toEqual(largest);
    await expect(alice.chat.send(carol.profile, new Uint8Array(MAX_MESSAGE_BYTES + 1))).rejects.toMatchObject({
      code: 'invalid_argument',
    });

    await bob.chat.sync();
    await alice.chat.sync();
    const pending = await sql`select count(*)::int as n from public.chat_topics where to_profile in ${sql([alice.profile, bob.profile])}`;
    expect(pending[0]!.n).toBe(0);
  });
});
