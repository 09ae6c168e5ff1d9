import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from './support/realtime.ts';
import { databaseSnapshot } from './support/snapshot.ts';
import { externalTarget, installFixture, signedInClient, signLocalToken, startTarget, waitFor, type TestTarget } from './support/stack.ts';

let target: TestTarget;
let userToken: string;
let before: Record<string, string>;

beforeAll(async () => {
  target = await startTarget();
  await installFixture(target.sql);
  const signedIn = await signedInClient(target);
  userToken = signedIn.accessToken;
  await signedIn.client.from('conformance_items').insert({ name: 'kept', score: 1 });
  before = await databaseSnapshot(target.sql);
});

afterAll(async () => {
  if (target !== undefined) {
    expect(await databaseSnapshot(target.sql)).toEqual(before);
    await target.close();
  }
});

async function rest(path: string, init: RequestInit & { token?: string; apikey?: string | null } = {}) {
  const headers = new Headers(init.headers);
  if (init.apikey !== null) headers.set('apikey', init.apikey ?? target.anonKey);
  if (init.token !== undefined) headers.set('Authorization', `Bearer ${init.token}`);
  const response = await fetch(`${target.apiUrl}/rest/v1/${path}`, { ...init, headers });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body };
}

// The gateway rejects some requests PostgREST accepts (or filters, casts, fts), so these run locally only.
describe.skipIf(externalTarget)('REST bad input', () => {
  it.each([
    ['malformed JSON', '{"name": ', 400, 'PGRST102'],
    ['a JSON scalar', '42', 400, 'PGRST102'],
    ['mismatched bulk keys', '[{"name":"a"},{"score":1}]', 400, 'PGRST102'],
    ['an unknown column', '{"name":"x","nope":1}', 400, 'PGRST204'],
    ['an injected column name', '{"name\\" text); drop table public.conformance_canary; --":1}', 400, 'PGRST204'],
  ])('rejects %s in an insert body', async (_name, body, status, code) => {
    const result = await rest('conformance_items', { method: 'POST', body, token: userToken, headers: { 'Content-Type': 'application/json' } });
    expect(result.status).toBe(status);
    expect(result.body.code).toBe(code);
    expect(result.body.message).toBeTypeOf('string');
  });

  it.each([
    ['conformance_items?select=name&name=eq.%27%3B%20drop%20table%20public.conformance_canary%3B%20--', 200],
    ['conformance_items?name%3Bdrop%20table%20x=eq.1', 400],
    ['conformance_items?order=id%3Bdrop%20table%20public.conformance_canary', 400],
    ['conformance_items?order=id.desc.nullsfirst%2C(select%201)', 400],
    ['conformance_items?select=*,(select%201)', 400],
    ['conformance_items?select=name::text', 400],
    ['conformance_items?select=%22name%22', 400],
    ['conformance_items?score=eq.1%20or%201%3D1', 400],
    ['conformance_items?score=in.(1,2', 400],
    ['conformance_items?score=in.(1,%222)', 400],
    ['conformance_items?score=is.maybe', 400],
    ['conformance_items?score=fts.word', 400],
    ['conformance_items?score=eq', 400],
    ['conformance_items?or=(score.eq.1,name.eq.x)', 400],
    ['conformance_items?created_at=gt.not-a-time', 400],
    ['conformance_items?limit=-1', 400],
    ['conformance_items?limit=abc', 400],
    ['conformance_items?offset=1e3', 400],
    ['conformance_canary%3Bdrop%20table%20x', 404],
    ['%22conformance_canary%22', 404],
    ['pg_catalog.pg_authid', 404],
    ['conformance_items/extra', 404],
    ['rpc/pg_sleep?seconds=10', 404],
    ['rpc/conformance_add?a=1;drop', 400],
  ])('rejects or neutralizes %s', async (path, status) => {
    const result = await rest(path, { token: userToken });
    expect(result.status, JSON.stringify(result.body)).toBe(status);
    if (status !== 200) expect(result.body.message).toBeTypeOf('string');
  });

  it('returns 416 for an unsatisfiable Range', async () => {
    const result = await rest('conformance_items', { token: userToken, headers: { Range: '5-2' } });
    expect(result.status).toBe(416);
    expect(result.body.code).toBe('PGRST103');
  });

  it('returns 413 for an oversized body', async () => {
    const body = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
    const result = await rest('conformance_items', { method: 'POST', body, token: userToken, headers: { 'Content-Type': 'application/json' } });
    expect(result.status).toBe(413);
  });

  it('returns 415 for a body that is not JSON', async () => {
    const result = await rest('conformance_items', { method: 'POST', body: 'name,score\nx,1', token: userToken, headers: { 'Content-Type': 'text/csv' } });
    expect(result.status).toBe(415);
  });

  it('rejects unsupported methods and schemas', async () => {
    expect((await rest('conformance_items', { method: 'PUT', body: '{}', token: userToken })).status).toBe(405);
    expect((await rest('conformance_items', { token: userToken, headers: { 'Accept-Profile': 'auth' } })).status).toBe(406);
    expect((await rest('conformance_items?limit=1', { method: 'DELETE', token: userToken })).status).toBe(400);
  });
});

describe.skipIf(externalTarget)('REST tokens', () => {
  it('rejects a missing or unknown apikey', async () => {
    const missing = await rest('conformance_canary', { apikey: null });
    expect(missing.status).toBe(401);
    expect(missing.body.message).toBe('No API key found in request');
    const unknown = await rest('conformance_canary', { apikey: 'nope' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.message).toBe('Invalid API key');
  });

  it('rejects a malformed Authorization header', async () => {
    const result = await rest('conformance_canary', { headers: { Authorization: 'Token abc' } });
    expect(result.status).toBe(401);
    expect(result.body.code).toBe('PGRST301');
  });

  it('rejects an expired token with PGRST303', async () => {
    const expired = await signLocalToken(target, { role: 'authenticated', sub: randomUUID() }, Math.floor(Date.now() / 1000) - 10);
    const result = await rest('conformance_canary', { token: expired });
    expect(result.status).toBe(401);
    expect(result.body.code).toBe('PGRST303');
  });

  it('rejects tokens signed by another key or algorithm', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const otherKey = await new SignJWT({ role: 'service_role' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('1h').sign(privateKey);
    const hs256 = await new SignJWT({ role: 'service_role' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode('super-secret-jwt-token-with-at-least-32-characters-long'));
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ role: 'service_role', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
    const unsigned = `${header}.${claims}.`;
    const [head, body, signature] = target.serviceRoleKey.split('.') as [string, string, string];
    const tampered = `${head}.${Buffer.from(JSON.stringify({ role: 'postgres', exp: 4102444800 })).toString('base64url')}.${signature}`;

    for (const token of [otherKey, hs256, unsigned, tampered, `${head}.${body}`, 'a.b.c', 'x'.repeat(10_000)]) {
      const result = await rest('conformance_canary', { token });
      expect(result.status, token.slice(0, 40)).toBe(401);
      expect(result.body.code).toBe('PGRST301');
    }
  });

  it('rejects a validly signed token for a role the API cannot switch to', async () => {
    const superuser = await signLocalToken(target, { role: 'postgres' }, Math.floor(Date.now() / 1000) + 600);
    const result = await rest('conformance_canary', { token: superuser });
    expect(result.status).toBe(401);
    expect(result.body.message).toContain('postgres');
  });
});

describe.skipIf(externalTarget)('auth bad input', () => {
  async function auth(path: string, body: string) {
    const response = await fetch(`${target.apiUrl}/auth/v1/${path}`, { method: 'POST', body, headers: { apikey: target.anonKey, 'Content-Type': 'application/json' } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it.each([
    ['signup', '{"email":', 400],
    ['signup', '{"email":"not-an-email","password":"long enough"}', 400],
    ['signup', '{"email":"a@example.com","password":5}', 400],
    ['signup', '{"email":"a@example.com","password":"x","data":[1]}', 400],
    ['token?grant_type=password', '{"email":"a@example.com"}', 400],
    ['token?grant_type=magic', '{}', 400],
    ['token?grant_type=refresh_token', '{"refresh_token":"unknown"}', 400],
    ['token?grant_type=refresh_token', '{"refresh_token":{"$ne":null}}', 400],
    ['logout?scope=everything', '{}', 400],
    ['admin/users', '{}', 404],
  ])('rejects POST %s %s', async (path, body, status) => {
    const result = await auth(path, body);
    expect(result.status).toBe(status);
    expect(result.body.msg).toBeTypeOf('string');
  });
});

describe.skipIf(externalTarget)('realtime bad input', () => {
  it.each([
    ['invalid JSON', 'not json', 1007],
    ['a JSON object in protocol 2.0.0', '{"topic":"x"}', 1007],
    ['a short array', '[1,2,3]', 1007],
    ['an empty topic', '[null,"1","","phx_join",{}]', 1007],
    ['a numeric event', '[null,"1","realtime:x",5,{}]', 1007],
  ])('closes the connection on %s', async (_name, frame, code) => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(frame);
    await waitFor(() => socket.closeCode !== undefined, 5000, 'the close');
    expect(socket.closeCode).toBe(code);
  });

  it.each([
    ['a binary frame of unknown kind', Buffer.from([9, 0, 0, 0, 0, 0, 0])],
    ['a truncated binary frame', Buffer.from([3, 5, 5, 5, 5, 0, 1, 65])],
    ['a binary frame with invalid JSON payload', Buffer.concat([Buffer.from([3, 0, 0, 1, 1, 0, 1]), Buffer.from('xe{')])],
  ])('closes the connection on %s', async (_name, frame) => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(frame);
    await waitFor(() => socket.closeCode !== undefined, 5000, 'the close');
    expect(socket.closeCode).toBe(1007);
  });

  it('closes the connection on a frame over 1 MiB', async () => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send('x'.repeat(1024 * 1024 + 1));
    await waitFor(() => socket.closeCode !== undefined, 5000, 'the close');
    expect(socket.closeCode).toBe(1009);
  });

  it.each([
    ['a topic without the realtime prefix', ['1', '1', 'room', 'phx_join', {}]],
    ['a topic over 255 characters', ['1', '1', `realtime:${'x'.repeat(300)}`, 'phx_join', {}]],
    ['an expired access_token', ['1', '1', 'realtime:room', 'phx_join', { access_token: 'expired.token.here' }]],
    ['presence', ['1', '1', 'realtime:room', 'phx_join', { config: { presence: { enabled: true } } }]],
    ['a broadcast before joining', ['1', '1', 'realtime:room', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]],
    ['an unknown event', ['1', '1', 'realtime:room', 'launch', {}]],
    ['an unknown phoenix event', ['1', '1', 'phoenix', 'launch', {}]],
  ])('replies with an error to %s', async (_name, frame) => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(frame);
    await waitFor(() => socket.reply('1') !== undefined, 5000, 'the reply');
    expect(socket.reply('1')?.status).toBe('error');
    expect(socket.reply('1')?.response.reason).toBeTypeOf('string');
    socket.close();
  });

  it('rejects a malformed broadcast on a joined channel', async () => {
    const socket = await RawSocket.open(target.apiUrl, target.anonKey);
    socket.send(['1', '1', 'realtime:room', 'phx_join', {}]);
    await waitFor(() => socket.reply('1') !== undefined);
    socket.send(['1', '2', 'realtime:room', 'broadcast', { type: 'broadcast', payload: {} }]);
    await waitFor(() => socket.reply('2') !== undefined);
    expect(socket.reply('2')?.status).toBe('error');
    socket.close();
  });
});
