import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, RawSocket, subscribe, useSessionToken } from './support/realtime.ts';
import { client, installFixture, randomBase64url, signedInClient, signLocalToken, startTarget, waitFor, externalTarget, type TestTarget } from './support/stack.ts';

let target: TestTarget;
const clients: SupabaseClient[] = [];

function tracked(supabase: SupabaseClient): SupabaseClient {
  clients.push(supabase);
  return supabase;
}

async function user() {
  const signedIn = await signedInClient(target);
  tracked(signedIn.client);
  await useSessionToken(signedIn.client);
  return signedIn;
}

async function claimProfile(supabase: SupabaseClient, profile: string): Promise<void> {
  const { error } = await supabase.from('chat_participants').insert({ profile, payload: { v: 1, identityKey: randomBase64url(32) } });
  if (error !== null) throw new Error(`claiming ${profile} failed: ${error.message}`);
}

beforeAll(async () => {
  target = await startTarget();
  await installFixture(target.sql);
});

afterAll(async () => {
  for (const supabase of clients) await supabase.removeAllChannels();
  await target?.close();
});

describe('realtime broadcast', () => {
  it('delivers text broadcasts to other subscribers only', async () => {
    const topic = `room-${randomUUID()}`;
    const sender = tracked(client(target));
    const receiver = tracked(client(target));
    const senderChannel = sender.channel(topic);
    const receiverChannel = receiver.channel(topic);
    const echoed = collect(senderChannel, 'ping');
    const received = collect(receiverChannel, 'ping');
    expect((await subscribe(senderChannel)).status).toBe('SUBSCRIBED');
    expect((await subscribe(receiverChannel)).status).toBe('SUBSCRIBED');

    await senderChannel.send({ type: 'broadcast', event: 'ping', payload: { n: 1, text: 'héllo' } });
    await waitFor(() => received.length === 1, 5000, 'the broadcast');
    expect(received[0]).toEqual({ n: 1, text: 'héllo' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(echoed).toEqual([]);
  });

  it('echoes to the sender with self and acknowledges with ack', async () => {
    const topic = `room-${randomUUID()}`;
    const sender = tracked(client(target));
    const channel = sender.channel(topic, { config: { broadcast: { self: true, ack: true } } });
    const received = collect(channel, 'note');
    expect((await subscribe(channel)).status).toBe('SUBSCRIBED');

    const result = await channel.send({ type: 'broadcast', event: 'note', payload: { ok: true } });
    expect(result).toBe('ok');
    await waitFor(() => received.length === 1, 5000, 'the echoed broadcast');
  });

  it('delivers binary payloads as binary frames', async () => {
    const topic = `room-${randomUUID()}`;
    const sender = tracked(client(target));
    const receiver = tracked(client(target));
    const senderChannel = sender.channel(topic);
    const receiverChannel = receiver.channel(topic);
    const received = collect(receiverChannel, 'bytes');
    await subscribe(senderChannel);
    await subscribe(receiverChannel);

    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await senderChannel.send({ type: 'broadcast', event: 'bytes', payload: bytes.buffer });
    await waitFor(() => received.length === 1, 5000, 'the binary broadcast');
    expect(received[0]).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(received[0] as ArrayBuffer)]).toEqual([0, 1, 2, 250, 255]);
  });

  it('speaks protocol 1.0.0 alongside 2.0.0', async () => {
    const topic = `room-${randomUUID()}`;
    const modern = tracked(client(target));
    const legacy = tracked(client(target, target.anonKey, { vsn: '1.0.0' }));
    const modernChannel = modern.channel(topic);
    const legacyChannel = legacy.channel(topic);
    const atLegacy = collect(legacyChannel, 'hello');
    const atModern = collect(modernChannel, 'hello');
    expect((await subscribe(modernChannel)).status).toBe('SUBSCRIBED');
    expect((await subscribe(legacyChannel)).status).toBe('SUBSCRIBED');

    await modernChannel.send({ type: 'broadcast', event: 'hello', payload: { from: 'modern' } });
    await legacyChannel.send({ type: 'broadcast', event: 'hello', payload: { from: 'legacy' } });
    await waitFor(() => atLegacy.length === 1 && atModern.length === 1, 5000, 'both broadcasts');
    expect(atLegacy[0]).toEqual({ from: 'modern' });
    expect(atModern[0]).toEqual({ from: 'legacy' });
  });

  it.skipIf(externalTarget)('answers postgres_changes with an error', async () => {
    const supabase = tracked(client(target));
    const channel = supabase.channel(`room-${randomUUID()}`).on('postgres_changes', { event: '*', schema: 'public', table: 'chat_topics' }, () => undefined);
    const result = await subscribe(channel);
    expect(result.status).toBe('CHANNEL_ERROR');
    expect(result.message).toContain('not supported');
  });
});

describe('realtime private channels', () => {
  it('lets the inbox owner join and delivers realtime.send from the topic trigger', async () => {
    const recipient = await user();
    const sender = await user();
    const recipientProfile = `rcpt-${randomUUID().slice(0, 8)}`;
    const senderProfile = `sndr-${randomUUID().slice(0, 8)}`;
    await claimProfile(recipient.client, recipientProfile);
    await claimProfile(sender.client, senderProfile);

    const inbox = recipient.client.channel(`inbox:${recipientProfile}`, { config: { private: true } });
    const notifications = collect(inbox, 'topic');
    expect((await subscribe(inbox)).status).toBe('SUBSCRIBED');

    // The sender cannot read the topic back (only the recipient may), so no .select() here.
    const { error } = await sender.client
      .from('chat_topics')
      .insert({ from_profile: senderProfile, to_profile: recipientProfile, payload: { v: 1, type: 'message', body: 'x' } });
    expect(error).toBeNull();

    await waitFor(() => notifications.length === 1, 5000, 'the inbox notification');
    const { data } = await recipient.client.from('chat_topics').select('id').eq('to_profile', recipientProfile).single();
    const notification = notifications[0] as Record<string, unknown>;
    expect(notification.id).toBe(data?.id);
    expect(notification.from_profile).toBe(senderProfile);
    expect(notification.created_at).toBeTypeOf('string');
    expect(notification.payload).toBeUndefined();
  });

  it('rejects a stranger and an anonymous caller at join', async () => {
    const owner = await user();
    const profile = `ownr-${randomUUID().slice(0, 8)}`;
    await claimProfile(owner.client, profile);

    const stranger = await user();
    const strangerResult = await subscribe(stranger.client.channel(`inbox:${profile}`, { config: { private: true } }));
    expect(strangerResult.status).toBe('CHANNEL_ERROR');
    expect(strangerResult.message).toContain('Unauthorized');

    const anonymous = tracked(client(target));
    const anonymousResult = await subscribe(anonymous.channel(`inbox:${profile}`, { config: { private: true } }));
    expect(anonymousResult.status).toBe('CHANNEL_ERROR');
  });

  it('sends nothing to a rejected join', async () => {
    const owner = await user();
    const profile = `quiet-${randomUUID().slice(0, 8)}`;
    await claimProfile(owner.client, profile);
    const stranger = await user();
    const { data } = await stranger.client.auth.getSession();

    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(['1', '1', `realtime:inbox:${profile}`, 'phx_join', { config: { private: true }, access_token: data.session?.access_token }]);
    await waitFor(() => socket.reply('1') !== undefined, 5000, 'the join reply');
    expect(socket.reply('1')?.status).toBe('error');

    await target.sql`select realtime.send(${target.sql.json({ secret: 1 })}, 'topic', ${`inbox:${profile}`}, true)`;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(socket.messages().filter((message) => message[3] === 'broadcast')).toEqual([]);
    socket.close();
  });

  it('delivers large realtime.send payloads read back by id', async () => {
    const member = await user();
    const topic = `conformance-open:${randomUUID()}`;
    const channel = member.client.channel(topic, { config: { private: true } });
    const received = collect(channel, 'big');
    expect((await subscribe(channel)).status).toBe('SUBSCRIBED');

    const text = 'x'.repeat(20_000);
    await target.sql`select realtime.send(${target.sql.json({ text })}, 'big', ${topic}, true)`;
    await waitFor(() => received.length === 1, 5000, 'the large broadcast');
    expect((received[0] as { text: string }).text).toBe(text);
  });

  it('keeps private messages off public channels of the same topic', async () => {
    const topic = `conformance-open:${randomUUID()}`;
    const publicChannel = tracked(client(target)).channel(topic);
    const received = collect(publicChannel, 'evt');
    await subscribe(publicChannel);
    await target.sql`select realtime.send(${target.sql.json({ a: 1 })}, 'evt', ${topic}, true)`;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received).toEqual([]);
  });

  it('lets only writers broadcast on a private channel', async () => {
    const writer = await user();
    const reader = await user();
    const topic = `conformance-open:${writer.userId}`;
    const writerChannel = writer.client.channel(topic, { config: { private: true } });
    const readerChannel = reader.client.channel(topic, { config: { private: true, broadcast: { ack: true } } });
    const atReader = collect(readerChannel, 'msg');
    const atWriter = collect(writerChannel, 'msg');
    expect((await subscribe(writerChannel)).status).toBe('SUBSCRIBED');
    expect((await subscribe(readerChannel)).status).toBe('SUBSCRIBED');

    await writerChannel.send({ type: 'broadcast', event: 'msg', payload: { from: 'writer' } });
    await waitFor(() => atReader.length === 1, 5000, 'the writer broadcast');

    const denied = await readerChannel.send({ type: 'broadcast', event: 'msg', payload: { from: 'reader' } });
    expect(denied).not.toBe('ok');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(atWriter).toEqual([]);
  });
});

describe.skipIf(externalTarget)('realtime protocol', () => {
  it('answers heartbeats', async () => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send([null, '7', 'phoenix', 'heartbeat', {}]);
    await waitFor(() => socket.reply('7') !== undefined, 5000, 'the heartbeat reply');
    expect(socket.reply('7')?.status).toBe('ok');
    socket.close();
  });

  it('answers heartbeats in protocol 1.0.0', async () => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey, '1.0.0');
    socket.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '3' });
    await waitFor(() => socket.frames.length > 0, 5000, 'the heartbeat reply');
    expect(JSON.parse(socket.frames[0] as string)).toMatchObject({ topic: 'phoenix', event: 'phx_reply', ref: '3', payload: { status: 'ok' } });
    socket.close();
  });

  it('leaves a channel and stops delivery', async () => {
    const topic = `room-${randomUUID()}`;
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(['1', '1', `realtime:${topic}`, 'phx_join', { config: {} }]);
    await waitFor(() => socket.reply('1') !== undefined);
    socket.send(['1', '2', `realtime:${topic}`, 'phx_leave', {}]);
    await waitFor(() => socket.reply('2') !== undefined);
    expect(socket.reply('2')?.status).toBe('ok');

    await target.sql`select realtime.send(${target.sql.json({ a: 1 })}, 'evt', ${topic}, false)`;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(socket.messages().filter((message) => message[3] === 'broadcast')).toEqual([]);
    socket.close();
  });

  it('checks access_token updates', async () => {
    const member = await user();
    const { data } = await member.client.auth.getSession();
    const token = data.session?.access_token as string;
    const topic = `realtime:conformance-open:${randomUUID()}`;
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(['1', '1', topic, 'phx_join', { config: { private: true }, access_token: token }]);
    await waitFor(() => socket.reply('1') !== undefined);
    expect(socket.reply('1')?.status).toBe('ok');

    const fresh = await signLocalToken(target, { role: 'authenticated', sub: member.userId, session_id: randomUUID() }, Math.floor(Date.now() / 1000) + 600);
    socket.send(['1', '2', topic, 'access_token', { access_token: fresh }]);
    await waitFor(() => socket.reply('2') !== undefined);
    expect(socket.reply('2')?.status).toBe('ok');

    socket.send(['1', '3', topic, 'access_token', { access_token: `${token}tampered` }]);
    await waitFor(() => socket.messages().some((message) => message[3] === 'phx_close'), 5000, 'phx_close');
    const system = socket.messages().find((message) => message[3] === 'system')?.[4] as { status: string; message: string };
    expect(system.status).toBe('error');
    expect(system.message).toContain('Invalid JWT');
    socket.close();
  });

  it('rejects an upgrade without a valid apikey', async () => {
    await expect(RawSocket.open(target.apiUrl, 'not-a-key')).rejects.toThrow(/401/);
    await expect(RawSocket.open(target.apiUrl, target.anonKey, '9.9.9')).rejects.toThrow(/400/);
  });
});
