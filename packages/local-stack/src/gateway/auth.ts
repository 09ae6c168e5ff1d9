import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import type { SigningKeys } from '../keys.ts';
import { BodyTooLargeError, headerValue, readBody, sendEmpty, sendJson } from './http.ts';
import { bearerToken, type Claims, type TokenVerifier } from './tokens.ts';

/** Lifetime of access tokens in seconds: Supabase Auth's default `jwt_expiry`. */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 3600;

/** Work factor of bcrypt password hashes, the one Supabase Auth uses. */
const BCRYPT_COST = 10;

/** Shortest password accepted: Supabase Auth's default minimum. */
const MIN_PASSWORD_LENGTH = 6;

/** bcrypt reads at most 72 bytes; longer passwords are rejected rather than silently truncated. */
const MAX_PASSWORD_BYTES = 72;

/** Largest `data` (user metadata) object accepted on sign-up, in bytes of JSON. */
const MAX_METADATA_BYTES = 16 * 1024;

const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,185}\.[^\s@]{2,63}$/;

/** Version of the error format; auth-js reads `code` as the error code when the response has this header. */
const API_VERSION = '2024-01-01';

/** A hash that no password matches, compared on unknown emails so both paths cost one bcrypt check. */
const DUMMY_HASH = bcrypt.hashSync('parley-local-stack-dummy-password', BCRYPT_COST);

export interface AuthContext {
  sql: Sql;
  keys: SigningKeys;
  verifier: TokenVerifier;
  logger: Logger;
  /** The gateway's public URL; access tokens name `${apiUrl}/auth/v1` as issuer. */
  apiUrl: string;
}

/** An error in Supabase Auth's response shape. */
class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface UserRow {
  id: string;
  aud: string | null;
  role: string | null;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  is_anonymous: boolean;
  banned_until: Date | null;
}

const USER_COLUMNS = `id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_anonymous, banned_until`;

/** Serves one request under `/auth/v1`; `path` is the part after that prefix. */
export async function handleAuth(
  context: AuthContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
): Promise<void> {
  const headers = { 'X-Supabase-Api-Version': API_VERSION };
  try {
    const method = request.method ?? 'GET';
    const route = `${method} ${path.replace(/\/+$/, '') || '/'}`;

    switch (route) {
      case 'GET /.well-known/jwks.json':
        sendJson(response, 200, { keys: [context.keys.publicJwk] }, { ...headers, 'Cache-Control': 'public, max-age=600' });
        return;
      case 'GET /health':
        sendJson(response, 200, { version: 'parley-local-stack', name: 'GoTrue', description: 'Parley local stack auth' }, headers);
        return;
      case 'GET /settings':
        sendJson(response, 200, settings(), headers);
        return;
      case 'POST /signup':
        sendJson(response, 200, await signUp(context, await readJsonObject(request)), headers);
        return;
      case 'POST /token':
        sendJson(response, 200, await issueToken(context, query.get('grant_type'), await readJsonObject(request)), headers);
        return;
      case 'GET /user':
        sendJson(response, 200, userJson(await currentUser(context, request)), headers);
        return;
      case 'POST /logout':
        await signOut(context, request, query.get('scope') ?? 'global');
        sendEmpty(response, 204, headers);
        return;
      default:
        throw new AuthError(404, 'not_found', `Unsupported auth endpoint: ${route.slice(0, 80)}`);
    }
  } catch (error) {
    if (error instanceof AuthError) {
      sendJson(response, error.status, { code: error.code, error_code: error.code, msg: error.message }, headers);
      return;
    }
    context.logger.error({ err: error }, 'auth request failed');
    sendJson(response, 500, { code: 'unexpected_failure', error_code: 'unexpected_failure', msg: 'internal error in the local auth service' }, headers);
  }
}

function settings() {
  return {
    external: { anonymous_users: true, email: true, phone: false },
    disable_signup: false,
    mailer_autoconfirm: true,
    phone_autoconfirm: false,
    sms_provider: '',
  };
}

async function readJsonObject(request: IncomingMessage): Promise<Record<string, unknown>> {
  let body: Buffer;
  try {
    body = await readBody(request);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new AuthError(413, 'request_too_large', error.message);
    throw error;
  }
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AuthError(400, 'bad_json', 'Could not parse request body as JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AuthError(400, 'bad_json', 'Request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function readMetadata(body: Record<string, unknown>): Record<string, unknown> {
  const data = body.data;
  if (data === undefined || data === null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new AuthError(400, 'validation_failed', '"data" must be a JSON object');
  if (Buffer.byteLength(JSON.stringify(data)) > MAX_METADATA_BYTES) {
    throw new AuthError(400, 'validation_failed', `"data" is larger than ${MAX_METADATA_BYTES} bytes`);
  }
  return data as Record<string, unknown>;
}

function readEmail(body: Record<string, unknown>): string {
  const email = body.email;
  if (typeof email !== 'string' || !EMAIL_PATTERN.test(email.trim())) {
    throw new AuthError(400, 'validation_failed', 'Unable to validate email address: invalid format');
  }
  return email.trim().toLowerCase();
}

function readPassword(body: Record<string, unknown>, checkStrength: boolean): string {
  const password = body.password;
  if (typeof password !== 'string' || password === '') {
    throw new AuthError(400, 'validation_failed', 'Password is required; send it in the "password" field');
  }
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    throw new AuthError(422, 'weak_password', `Password cannot be longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  if (checkStrength && password.length < MIN_PASSWORD_LENGTH) {
    throw new AuthError(422, 'weak_password', `Password should be at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  return password;
}

async function signUp(context: AuthContext, body: Record<string, unknown>) {
  const metadata = readMetadata(body);
  const hasCredentials = body.email !== undefined || body.password !== undefined;

  if (!hasCredentials) {
    const [user] = await context.sql<UserRow[]>`
      insert into auth.users (id, aud, role, raw_app_meta_data, raw_user_meta_data, is_anonymous, last_sign_in_at, created_at, updated_at)
      values (${randomUUID()}, 'authenticated', 'authenticated', '{}'::jsonb, ${context.sql.json(metadata as never)}, true, now(), now(), now())
      returning ${context.sql.unsafe(USER_COLUMNS)}`;
    context.logger.info({ userId: user?.id }, 'anonymous user signed up');
    return createSession(context, user as UserRow, 'anonymous');
  }

  const email = readEmail(body);
  const password = readPassword(body, true);
  const hash = await bcrypt.hash(password, BCRYPT_COST);

  const user = await context.sql.begin(async (sql) => {
    // Two concurrent sign-ups with one email would both pass the existence check without this lock.
    await sql`select pg_advisory_xact_lock(hashtext(${`auth.users:${email}`}))`;
    const [inserted] = await sql<UserRow[]>`
    insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data,
                            raw_user_meta_data, is_anonymous, last_sign_in_at, created_at, updated_at)
    select ${randomUUID()}, 'authenticated', 'authenticated', ${email}, ${hash}, now(),
           '{"provider": "email", "providers": ["email"]}'::jsonb, ${sql.json(metadata as never)}, false, now(), now(), now()
     where not exists (select 1 from auth.users where email = ${email} and deleted_at is null)
    returning ${sql.unsafe(USER_COLUMNS)}`;
    return inserted;
  });
  if (user === undefined) throw new AuthError(422, 'user_already_exists', 'User already registered');

  context.logger.info({ userId: user.id }, 'user signed up with email');
  return createSession(context, user, 'password');
}

async function issueToken(context: AuthContext, grantType: string | null, body: Record<string, unknown>) {
  if (grantType === 'password') return signInWithPassword(context, body);
  if (grantType === 'refresh_token') return refreshSession(context, body);
  throw new AuthError(400, 'validation_failed', `Unsupported grant_type "${String(grantType).slice(0, 40)}"; use password or refresh_token`);
}

async function signInWithPassword(context: AuthContext, body: Record<string, unknown>) {
  const email = readEmail(body);
  const password = readPassword(body, false);

  const [user] = await context.sql<UserRow[]>`
    select ${context.sql.unsafe(USER_COLUMNS)} from auth.users
     where email = ${email} and deleted_at is null and not is_anonymous
     order by created_at
     limit 1`;
  const matches = await bcrypt.compare(password, user?.encrypted_password ?? DUMMY_HASH);
  if (user === undefined || !matches) {
    context.logger.info({ userId: user?.id }, 'password sign-in rejected');
    throw new AuthError(400, 'invalid_credentials', 'Invalid login credentials');
  }
  checkNotBanned(user);

  await context.sql`update auth.users set last_sign_in_at = now() where id = ${user.id}`;
  context.logger.info({ userId: user.id }, 'user signed in with password');
  return createSession(context, user, 'password');
}

function checkNotBanned(user: UserRow): void {
  if (user.banned_until !== null && user.banned_until.getTime() > Date.now()) {
    throw new AuthError(400, 'user_banned', 'User is banned');
  }
}

async function refreshSession(context: AuthContext, body: Record<string, unknown>) {
  const token = body.refresh_token;
  if (typeof token !== 'string' || token === '' || token.length > 255) {
    throw new AuthError(400, 'validation_failed', 'refresh_token is required; send it in the "refresh_token" field');
  }

  const session = await context.sql.begin(async (sql) => {
    const [current] = await sql<{ id: string; user_id: string; revoked: boolean; session_id: string }[]>`
      select id, user_id, revoked, session_id from auth.refresh_tokens where token = ${token} for update`;
    if (current === undefined) {
      throw new AuthError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
    }
    if (current.revoked) {
      // A revoked token presented again may have been stolen: end the whole session. The delete
      // commits with the transaction, and the error is raised after it.
      await sql`delete from auth.sessions where id = ${current.session_id}`;
      context.logger.warn({ userId: current.user_id, sessionId: current.session_id }, 'revoked refresh token reused; session ended');
      return undefined;
    }

    const [user] = await sql<UserRow[]>`select ${sql.unsafe(USER_COLUMNS)} from auth.users where id = ${current.user_id} and deleted_at is null`;
    if (user === undefined) throw new AuthError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
    checkNotBanned(user);

    const nextToken = newRefreshToken();
    await sql`update auth.refresh_tokens set revoked = true, updated_at = now() where id = ${current.id}`;
    await sql`insert into auth.refresh_tokens (token, user_id, parent, session_id) values (${nextToken}, ${user.id}, ${token}, ${current.session_id})`;
    await sql`update auth.sessions set updated_at = now() where id = ${current.session_id}`;
    context.logger.info({ userId: user.id, sessionId: current.session_id }, 'refresh token rotated');
    return sessionJson(context, user, current.session_id, nextToken, user.is_anonymous ? 'anonymous' : 'password');
  });
  if (session === undefined) throw new AuthError(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used');
  return session;
}

function newRefreshToken(): string {
  return randomBytes(24).toString('base64url');
}

async function createSession(context: AuthContext, user: UserRow, method: string) {
  const sessionId = randomUUID();
  const refreshToken = newRefreshToken();
  await context.sql.begin(async (sql) => {
    await sql`insert into auth.sessions (id, user_id) values (${sessionId}, ${user.id})`;
    await sql`insert into auth.refresh_tokens (token, user_id, session_id) values (${refreshToken}, ${user.id}, ${sessionId})`;
  });
  return sessionJson(context, user, sessionId, refreshToken, method);
}

async function sessionJson(context: AuthContext, user: UserRow, sessionId: string, refreshToken: string, method: string) {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + ACCESS_TOKEN_LIFETIME_SECONDS;
  const accessToken = await context.verifier.sign(
    {
      iss: `${context.apiUrl}/auth/v1`,
      sub: user.id,
      aud: user.aud ?? 'authenticated',
      email: user.email ?? '',
      phone: '',
      app_metadata: user.raw_app_meta_data ?? {},
      user_metadata: user.raw_user_meta_data ?? {},
      role: user.role ?? 'authenticated',
      aal: 'aal1',
      amr: [{ method, timestamp: now }],
      session_id: sessionId,
      is_anonymous: user.is_anonymous,
    },
    expiresAt,
  );
  return {
    access_token: accessToken,
    token_type: 'bearer',
    expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
    expires_at: expiresAt,
    refresh_token: refreshToken,
    user: userJson(user),
  };
}

function userJson(user: UserRow) {
  return {
    id: user.id,
    aud: user.aud ?? 'authenticated',
    role: user.role ?? 'authenticated',
    email: user.email ?? '',
    email_confirmed_at: user.email_confirmed_at?.toISOString() ?? undefined,
    phone: '',
    confirmed_at: user.email_confirmed_at?.toISOString() ?? undefined,
    last_sign_in_at: user.last_sign_in_at?.toISOString() ?? undefined,
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    identities: [],
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
    is_anonymous: user.is_anonymous,
  };
}

/** Verifies the caller's access token and checks that its session still exists. */
async function currentClaims(context: AuthContext, request: IncomingMessage): Promise<Claims> {
  const token = bearerToken(headerValue(request, 'authorization'));
  if (token === undefined) throw new AuthError(401, 'no_authorization', 'This endpoint requires a Bearer token');

  const result = await context.verifier.verify(token);
  if (!result.ok) throw new AuthError(403, 'bad_jwt', `invalid JWT: ${result.message}`);
  if (typeof result.claims.sub !== 'string' || typeof result.claims.session_id !== 'string') {
    throw new AuthError(403, 'bad_jwt', 'invalid claim: missing sub claim');
  }

  const [session] = await context.sql`select 1 from auth.sessions where id = ${result.claims.session_id as string} and user_id = ${result.claims.sub}`;
  if (session === undefined) throw new AuthError(403, 'session_not_found', 'Session from session_id claim in JWT does not exist');
  return result.claims;
}

async function currentUser(context: AuthContext, request: IncomingMessage): Promise<UserRow> {
  const claims = await currentClaims(context, request);
  const [user] = await context.sql<UserRow[]>`select ${context.sql.unsafe(USER_COLUMNS)} from auth.users where id = ${claims.sub as string} and deleted_at is null`;
  if (user === undefined) throw new AuthError(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  return user;
}

async function signOut(context: AuthContext, request: IncomingMessage, scope: string): Promise<void> {
  if (scope !== 'global' && scope !== 'local' && scope !== 'others') {
    throw new AuthError(400, 'validation_failed', `Unsupported logout scope "${scope.slice(0, 40)}"; use global, local or others`);
  }
  const claims = await currentClaims(context, request);
  const userId = claims.sub as string;
  const sessionId = claims.session_id as string;

  if (scope === 'local') await context.sql`delete from auth.sessions where id = ${sessionId}`;
  else if (scope === 'others') await context.sql`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`;
  else await context.sql`delete from auth.sessions where user_id = ${userId}`;
  context.logger.info({ userId, sessionId, scope }, 'user signed out');
}
