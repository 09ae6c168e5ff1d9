import type { Sql } from 'postgres';

/**
 * Creates the session tables of Supabase Auth that the gateway's `/auth/v1` needs and the
 * bootstrap does not provide. Names and columns follow Supabase Auth's own `auth.sessions` and
 * `auth.refresh_tokens`, so queries written against a hosted project read the same here.
 * Running it again changes nothing.
 */
export async function ensureAuthSessionTables(sql: Sql): Promise<void> {
  await sql.unsafe(`
    create table if not exists auth.sessions (
      id uuid primary key,
      user_id uuid not null references auth.users (id) on delete cascade,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      not_after timestamptz,
      aal text not null default 'aal1'
    );
    create index if not exists sessions_user_id_idx on auth.sessions (user_id);
    comment on table auth.sessions is 'Auth: stores session data associated to a user.';

    create table if not exists auth.refresh_tokens (
      id bigserial primary key,
      token varchar(255) not null unique,
      user_id varchar(255) not null,
      revoked boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      parent varchar(255),
      session_id uuid references auth.sessions (id) on delete cascade
    );
    create index if not exists refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
    comment on table auth.refresh_tokens is 'Auth: store of tokens used to refresh JWT tokens once they expire.';

    revoke all on auth.sessions, auth.refresh_tokens from anon, authenticated;
  `);
}
