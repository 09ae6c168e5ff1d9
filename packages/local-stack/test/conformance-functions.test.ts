import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, externalTarget, signedInClient, signLocalToken, startTarget, type TestTarget } from './support/stack.ts';

let target: TestTarget;

beforeAll(async () => {
  target = await startTarget();
});

afterAll(async () => {
  await target?.close();
});

// The echo and open functions exist only in the local stack's test functions folder.
describe.skipIf(externalTarget)('functions', () => {
  it('forwards an invocation with the caller token', async () => {
    const { client: supabase } = await signedInClient(target);
    const { data, error } = await supabase.functions.invoke('echo', { body: { hello: 'world' } });
    expect(error).toBeNull();
    expect(data.method).toBe('POST');
    expect(data.path).toBe('/echo');
    expect(JSON.parse(data.body)).toEqual({ hello: 'world' });
    expect(data.authorization).toBe(true);
  });

  it('gives functions the Supabase environment', async () => {
    const { data } = await client(target).functions.invoke('echo', { body: {} });
    expect(data.env).toEqual(['SUPABASE_URL', 'SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_DB_URL']);
  });

  it('keeps the sub-path and query string', async () => {
    const response = await fetch(`${target.apiUrl}/functions/v1/echo/items/7?x=1`, { headers: { Authorization: `Bearer ${target.anonKey}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { path: string; query: string; method: string };
    expect(body.path).toBe('/echo/items/7');
    expect(body.query).toBe('?x=1');
    expect(body.method).toBe('GET');
  });

  it('rejects a missing or invalid token when verify_jwt is on', async () => {
    const missing = await fetch(`${target.apiUrl}/functions/v1/echo`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(401);
    const invalid = await fetch(`${target.apiUrl}/functions/v1/echo`, { method: 'POST', body: '{}', headers: { Authorization: 'Bearer not.a.jwt' } });
    expect(invalid.status).toBe(401);
    const expired = await signLocalToken(target, { role: 'authenticated', sub: '00000000-0000-0000-0000-000000000000' }, Math.floor(Date.now() / 1000) - 60);
    const late = await fetch(`${target.apiUrl}/functions/v1/echo`, { method: 'POST', body: '{}', headers: { Authorization: `Bearer ${expired}` } });
    expect(late.status).toBe(401);
  });

  it('skips the token check when verify_jwt is off', async () => {
    const response = await fetch(`${target.apiUrl}/functions/v1/open`, { method: 'POST', body: 'plain' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { body: string; authorization: boolean };
    expect(body.body).toBe('plain');
    expect(body.authorization).toBe(false);
  });

  it('returns 404 for unknown and shared folders', async () => {
    for (const name of ['missing', '_shared', '..', 'echo%2F..']) {
      const response = await fetch(`${target.apiUrl}/functions/v1/${name}`, { method: 'POST', headers: { Authorization: `Bearer ${target.anonKey}` } });
      expect(response.status, name).toBe(404);
    }
    const { error } = await client(target).functions.invoke('missing');
    expect((error as { context?: Response }).context?.status).toBe(404);
  });
});
