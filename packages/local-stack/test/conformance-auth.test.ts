import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, externalTarget, signedInClient, startTarget, type TestTarget } from './support/stack.ts';

let target: TestTarget;

beforeAll(async () => {
  target = await startTarget();
});

afterAll(async () => {
  await target?.close();
});

describe('auth', () => {
  it('signs up with email and password', async () => {
    const supabase = client(target);
    const email = `signup-${Date.now()}@example.com`;
    const { data, error } = await supabase.auth.signUp({ email, password: 'correct horse' });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.session?.access_token).toBeTypeOf('string');

    const claims = decodeJwt(data.session?.access_token as string);
    expect(claims.sub).toBe(data.user?.id);
    expect(claims.role).toBe('authenticated');
    expect(claims.aud).toBe('authenticated');
    expect(claims.is_anonymous).toBe(false);
    expect(claims.session_id).toBeTypeOf('string');
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);

    const [row] = await target.sql`select encrypted_password from auth.users where id = ${data.user?.id as string}`;
    expect(row?.encrypted_password).toMatch(/^\$2[aby]\$10\$/);
  });

  it('rejects a second sign-up with the same email', async () => {
    const { email } = await signedInClient(target);
    const { error } = await client(target).auth.signUp({ email, password: 'another password' });
    expect(error?.status).toBe(422);
    expect(error?.code).toBe('user_already_exists');
  });

  it('rejects a short password', async () => {
    const { error } = await client(target).auth.signUp({ email: `short-${Date.now()}@example.com`, password: '123' });
    expect(error?.code).toBe('weak_password');
  });

  it('signs in with password and rejects a wrong one', async () => {
    const { email, password, userId } = await signedInClient(target);
    const supabase = client(target);
    const good = await supabase.auth.signInWithPassword({ email, password });
    expect(good.error).toBeNull();
    expect(good.data.user?.id).toBe(userId);

    const bad = await client(target).auth.signInWithPassword({ email, password: `${password}x` });
    expect(bad.error?.status).toBe(400);
    expect(bad.error?.code).toBe('invalid_credentials');

    const unknown = await client(target).auth.signInWithPassword({ email: `nobody-${Date.now()}@example.com`, password });
    expect(unknown.error?.code).toBe('invalid_credentials');
  });

  it('signs in anonymously', async () => {
    const supabase = client(target);
    const { data, error } = await supabase.auth.signInAnonymously();
    expect(error).toBeNull();
    expect(data.user?.is_anonymous).toBe(true);
    const claims = decodeJwt(data.session?.access_token as string);
    expect(claims.is_anonymous).toBe(true);
    expect(claims.role).toBe('authenticated');
  });

  it('rotates refresh tokens and rejects a reused one', async () => {
    const { client: supabase } = await signedInClient(target);
    const { data: before } = await supabase.auth.getSession();
    const oldRefresh = before.session?.refresh_token as string;

    const refreshed = await supabase.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session?.refresh_token).not.toBe(oldRefresh);
    expect(refreshed.data.session?.access_token).toBeTypeOf('string');

    // Supabase Auth accepts a reused refresh token for 10 s; the local stack rejects reuse at once.
    if (externalTarget) return;
    const reused = await client(target).auth.refreshSession({ refresh_token: oldRefresh });
    expect(reused.error?.code).toBe('refresh_token_already_used');

    // Reuse ends the session, so the newer token stops working too.
    const after = await client(target).auth.refreshSession({ refresh_token: refreshed.data.session?.refresh_token as string });
    expect(after.error).not.toBeNull();
  });

  it('returns the user for a valid token', async () => {
    const { client: supabase, userId, accessToken } = await signedInClient(target);
    const { data, error } = await supabase.auth.getUser(accessToken);
    expect(error).toBeNull();
    expect(data.user?.id).toBe(userId);
  });

  it('signs out and ends the session', async () => {
    const { client: supabase, accessToken } = await signedInClient(target);
    const { error } = await supabase.auth.signOut();
    expect(error).toBeNull();
    const after = await client(target).auth.getUser(accessToken);
    expect(after.error).not.toBeNull();
    expect(after.data.user).toBeNull();
  });

  it('publishes the signing key as JWKS', async () => {
    const { accessToken } = await signedInClient(target);
    const response = await fetch(`${target.apiUrl}/auth/v1/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys[0]?.alg).toBe('ES256');
    expect(jwks.keys[0]?.d).toBeUndefined();

    const keySet = createRemoteJWKSet(new URL(`${target.apiUrl}/auth/v1/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(accessToken, keySet);
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.role).toBe('authenticated');

    const apiKey = await jwtVerify(target.anonKey, keySet);
    expect(apiKey.payload.role).toBe('anon');
  });

  it('verifies claims with getClaims', async () => {
    const { client: supabase, userId } = await signedInClient(target);
    const { data, error } = await supabase.auth.getClaims();
    expect(error).toBeNull();
    expect(data?.claims.sub).toBe(userId);
  });
});
