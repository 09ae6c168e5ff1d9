import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { importJWK, SignJWT } from 'jose';
import postgres, { type Sql } from 'postgres';
import WebSocket from 'ws';
import { startStack, type Stack } from '../../src/index.ts';

/**
 * The stack under test. By default it is a fresh local stack in a temporary folder. With
 * SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY and SUPABASE_DB_URL set, it is an
 * existing stack such as `supabase start`, and tests that need the local stack's internals skip.
 */
export interface TestTarget {
  apiUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  dbUrl: string;
  /** Superuser connection for fixtures and for checking that nothing changed. */
  sql: Sql;
  /** The local stack, or undefined when the tests run against an external stack. */
  stack: Stack | undefined;
  dataDir: string | undefined;
  close(): Promise<void>;
}

export const externalTarget = process.env.SUPABASE_URL !== undefined && process.env.SUPABASE_URL !== '';

/** Echo and open functions served by the local stack in conformance tests. */
const ECHO_FUNCTION = `
export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    return new Response(JSON.stringify({
      method: request.method,
      path: url.pathname,
      query: url.search,
      body,
      authorization: request.headers.get('authorization') !== null,
      env: ['SUPABASE_URL', 'SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_DB_URL'].filter((name) => (Deno.env.get(name) ?? '') !== ''),
    }), { headers: { 'Content-Type': 'application/json' } });
  },
};
`;

/** Writes a functions folder with `echo` (verify_jwt on) and `open` (verify_jwt off). */
export async function writeTestFunctions(root: string): Promise<string> {
  const functionsDir = join(root, 'supabase', 'functions');
  for (const name of ['echo', 'open', '_shared']) {
    await mkdir(join(functionsDir, name), { recursive: true });
  }
  await writeFile(join(functionsDir, 'echo', 'handler.ts'), ECHO_FUNCTION);
  await writeFile(join(functionsDir, 'echo', 'index.ts'), "import handler from './handler.ts';\nDeno.serve(handler.fetch);\n");
  await writeFile(join(functionsDir, 'open', 'handler.ts'), ECHO_FUNCTION);
  await writeFile(join(functionsDir, '_shared', 'handler.ts'), 'export default {};\n');
  await writeFile(join(root, 'supabase', 'config.toml'), '[functions.open]\nverify_jwt = false\n\n[functions.echo]\nverify_jwt = true\n');
  return functionsDir;
}

export async function startTarget(options: { functions?: 'test' | 'project'; dataDir?: string } = {}): Promise<TestTarget> {
  if (externalTarget) {
    const required = ['SUPABASE_URL', 'SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_DB_URL'];
    const missing = required.filter((name) => (process.env[name] ?? '') === '');
    if (missing.length > 0) throw new Error(`set ${missing.join(', ')} to run the suite against an external stack`);
    const sql = postgres(process.env.SUPABASE_DB_URL as string, { max: 2, onnotice: () => undefined });
    return {
      apiUrl: process.env.SUPABASE_URL as string,
      anonKey: process.env.SUPABASE_ANON_KEY as string,
      serviceRoleKey: process.env.SUPABASE_SERVICE_ROLE_KEY as string,
      dbUrl: process.env.SUPABASE_DB_URL as string,
      sql,
      stack: undefined,
      dataDir: undefined,
      close: () => sql.end({ timeout: 2 }),
    };
  }

  const root = await mkdtemp(join(tmpdir(), 'parley-stack-test-'));
  // Under root PostgreSQL runs as the OS user postgres, which must be able to reach the data folder.
  await chmod(root, 0o755);
  const dataDir = options.dataDir ?? join(root, 'data');
  const functionsDir = options.functions === 'project' ? undefined : await writeTestFunctions(root);
  const stack = await startStack({
    dataDir,
    port: 0,
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    ...(functionsDir === undefined ? {} : { functionsDir }),
  });
  const sql = postgres(stack.dbUrl, { max: 2, onnotice: () => undefined });
  return {
    apiUrl: stack.apiUrl,
    anonKey: stack.anonKey,
    serviceRoleKey: stack.serviceRoleKey,
    dbUrl: stack.dbUrl,
    sql,
    stack,
    dataDir,
    async close() {
      await sql.end({ timeout: 2 });
      await stack.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export function client(target: TestTarget, key = target.anonKey, options: { vsn?: string } = {}): SupabaseClient {
  return createClient(target.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket as never, ...(options.vsn === undefined ? {} : { vsn: options.vsn }) } as never,
  });
}

/** Signs up a new email user and returns a client signed in as that user. */
export async function signedInClient(target: TestTarget): Promise<{ client: SupabaseClient; userId: string; accessToken: string; email: string; password: string }> {
  const supabase = client(target);
  const email = `user-${randomBytes(6).toString('hex')}@example.com`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const { data, error } = await supabase.auth.signUp({ email, password });
  if (error !== null || data.session === null || data.user === null) throw new Error(`sign-up failed: ${error?.message}`);
  return { client: supabase, userId: data.user.id, accessToken: data.session.access_token, email, password };
}

/** Signs a token with the local stack's key, for expired and forged token cases. */
export async function signLocalToken(target: TestTarget, claims: Record<string, unknown>, expiresAt: number): Promise<string> {
  if (target.dataDir === undefined) throw new Error('signLocalToken needs the local stack');
  const stored = JSON.parse(await readFile(join(target.dataDir, 'keys.json'), 'utf8')) as { privateJwk: Record<string, unknown> & { kid: string } };
  const key = await importJWK(stored.privateJwk, 'ES256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: stored.privateJwk.kid, typ: 'JWT' }).setIssuedAt().setExpirationTime(expiresAt).sign(key);
}

/** Returns `bytes` random bytes as unpadded base64url. */
export function randomBase64url(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** Waits until `check` returns true, polling every 20 ms, or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The conformance fixture: a table with RLS per owner and functions for RPC shapes. */
export const FIXTURE_SQL = `
  create table if not exists public.conformance_items (
    id bigint generated by default as identity primary key,
    owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    name text not null unique,
    score integer,
    note text,
    created_at timestamptz not null default now()
  );
  alter table public.conformance_items enable row level security;
  revoke all on public.conformance_items from anon;
  grant select, insert, update, delete on public.conformance_items to authenticated;
  drop policy if exists "Owners can read their items" on public.conformance_items;
  create policy "Owners can read their items" on public.conformance_items for select to authenticated using (owner_id = (select auth.uid()));
  drop policy if exists "Owners can add items" on public.conformance_items;
  create policy "Owners can add items" on public.conformance_items for insert to authenticated with check (owner_id = (select auth.uid()));
  drop policy if exists "Owners can change items" on public.conformance_items;
  create policy "Owners can change items" on public.conformance_items for update to authenticated using (owner_id = (select auth.uid()));
  drop policy if exists "Owners can delete items" on public.conformance_items;
  create policy "Owners can delete items" on public.conformance_items for delete to authenticated using (owner_id = (select auth.uid()));

  create table if not exists public.conformance_canary (
    id integer primary key,
    label text not null
  );
  alter table public.conformance_canary enable row level security;
  revoke all on public.conformance_canary from anon, authenticated;
  grant select on public.conformance_canary to anon, authenticated;
  drop policy if exists "Everyone can read the canary" on public.conformance_canary;
  create policy "Everyone can read the canary" on public.conformance_canary for select to anon, authenticated using (true);
  insert into public.conformance_canary (id, label) values (1, 'one'), (2, 'two'), (3, 'three') on conflict do nothing;

  create or replace function public.conformance_add(a integer, b integer default 10) returns integer
    language sql immutable as $$ select a + b $$;
  create or replace function public.conformance_items_named(prefix text) returns setof public.conformance_items
    language sql stable as $$ select * from public.conformance_items where name like prefix || '%' order by id $$;
  create or replace function public.conformance_touch(label text) returns void
    language plpgsql as $$ begin perform label; end $$;
  create or replace function public.conformance_fail(code text) returns integer
    language plpgsql as $$ begin raise exception 'conformance failure %', code using errcode = code; end $$;
  create or replace function public.conformance_whoami() returns jsonb
    language sql stable as $$ select jsonb_build_object('role', current_user, 'sub', auth.uid(), 'claims_role', auth.jwt() ->> 'role') $$;

  drop policy if exists "Conformance channels are open to signed-in users" on realtime.messages;
  create policy "Conformance channels are open to signed-in users" on realtime.messages for select to authenticated
    using (realtime.topic() like 'conformance-open:%');
  drop policy if exists "Conformance owners can write" on realtime.messages;
  create policy "Conformance owners can write" on realtime.messages for insert to authenticated
    with check (realtime.topic() = 'conformance-open:' || (select auth.uid())::text);

  notify pgrst, 'reload schema';
`;

export async function installFixture(sql: Sql): Promise<void> {
  await sql.unsafe(FIXTURE_SQL).simple();
}
