-- Supabase compatibility for plain PostgreSQL.
--
-- Every Supabase database already has the roles, schemas and functions below;
-- Parley's migrations assume them. This script recreates that surface, with
-- the same names, signatures and behaviour, on a cluster started by the local
-- stack or the database tests. It is not a migration and never runs on a
-- Supabase project. Running it again changes nothing.
--
-- Connect as the `postgres` superuser. The migrations run as `postgres` too,
-- so the default privileges below apply to every object they create, as on a
-- hosted project.

-- API roles. PostgREST and Realtime switch from `authenticator` to one of the
-- three API roles per request; `service_role` bypasses row level security.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

-- Extensions live in their own schema, which is on the search path.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
alter role postgres set search_path = "$user", public, extensions;
alter role authenticator set search_path = "$user", public, extensions;

-- Default privileges of a hosted project: the API roles get every privilege
-- on new tables, sequences and functions in `public`. Row level security and
-- explicit revokes in the migrations narrow them down, so a forgotten revoke
-- or policy shows up in the tests exactly as it would on Supabase.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;

-- auth: the users of Supabase Auth and the helpers that read the caller's JWT.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid not null default gen_random_uuid(),
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text default null,
  phone_confirmed_at timestamptz,
  banned_until timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false,
  constraint users_pkey primary key (id),
  constraint users_phone_key unique (phone)
);
create index if not exists users_email_idx on auth.users (email);
comment on table auth.users is 'Auth: stores user login data within a secure schema.';

-- PostgREST sets `request.jwt.claims` to the verified JWT's claims for each
-- request; older PostgREST versions set one `request.jwt.claim.<name>` per claim.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt() to anon, authenticated, service_role;

-- realtime: broadcast from the database and authorization of private channels.
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

-- Hosted Supabase partitions this table by day and drops old partitions; here
-- it is one plain table with the same columns.
create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  id uuid not null default gen_random_uuid(),
  constraint messages_pkey primary key (id, inserted_at)
);
create index if not exists messages_inserted_at_topic_index on realtime.messages (inserted_at desc, topic);
alter table realtime.messages enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated;
grant all on realtime.messages to service_role;

-- Realtime sets `realtime.topic` to the channel's topic while it checks the
-- policies on realtime.messages for a client that joins a private channel
-- (select policies) or sends on it (insert policies).
create or replace function realtime.topic() returns text
language sql stable
as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;
grant execute on function realtime.topic() to anon, authenticated, service_role;

-- Broadcasts `payload` as `event` on the channel `topic`, like Supabase's
-- realtime.send: the message is stored in realtime.messages and a failure
-- only raises a warning, so it never aborts the caller's transaction.
--
-- Hosted Realtime reads new rows from realtime.messages through logical
-- replication. Here the function also sends a NOTIFY on the channel
-- `realtime_broadcast`, delivered when the transaction commits, with the JSON
-- object {id, topic, event, private, payload}. When that text would exceed
-- NOTIFY's 8000-byte limit, `payload` is left out and the listener reads the
-- row from realtime.messages by `id`.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
as $$
declare
  generated_id uuid;
  final_payload jsonb;
  notification jsonb;
begin
  begin
    generated_id := gen_random_uuid();

    -- Hosted Supabase adds an `id` to payloads that have none.
    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;

    perform set_config('realtime.topic', topic, true);

    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');

    notification := jsonb_build_object(
      'id', generated_id,
      'topic', topic,
      'event', event,
      'private', private,
      'payload', final_payload
    );
    if octet_length(notification::text) > 7900 then
      notification := notification - 'payload';
    end if;
    perform pg_notify('realtime_broadcast', notification::text);
  exception
    when others then
      raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;
revoke execute on function realtime.send(jsonb, text, text, boolean) from public, anon, authenticated;
grant execute on function realtime.send(jsonb, text, text, boolean) to service_role;
