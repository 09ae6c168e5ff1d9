-- Writes that a unique or foreign key constraint rejects raise a message
-- that names the value and the fix, with the constraint's SQLSTATE and name.
-- Identity keys that are not usable Ed25519 public keys are rejected.
begin;
\ir _helpers.psql
select plan(51);

select tests.create_profile('alice');
select tests.create_profile('bob');
select tests.create_user('stranger');
select tests.create_user('newcomer');

-- The fields of the error a statement raises: SQLSTATE, constraint, table,
-- schema and hint. Raises when the statement succeeds.
create function tests.error_fields(query text) returns text[]
language plpgsql
as $$
declare
  state text;
  constraint_name text;
  table_name text;
  schema_name text;
  hint text;
begin
  execute query;
  raise exception 'statement did not fail: %', query;
exception
  when others then
    if sqlerrm like 'statement did not fail: %' then
      raise;
    end if;
    get stacked diagnostics
      state = returned_sqlstate,
      constraint_name = constraint_name,
      table_name = table_name,
      schema_name = schema_name,
      hint = pg_exception_hint;
    return array[state, constraint_name, table_name, schema_name, hint];
end;
$$;

-- The message of the error a statement raises.
create function tests.error_message(query text) returns text
language plpgsql
as $$
begin
  execute query;
  raise exception 'statement did not fail: %', query;
exception
  when others then
    if sqlerrm like 'statement did not fail: %' then
      raise;
    end if;
    return sqlerrm;
end;
$$;
grant execute on function tests.error_fields(text), tests.error_message(text) to authenticated, service_role;

create temporary table profiles_before on commit drop as
  select id, profile, payload, owner_id from public.chat_participants;
grant select on profiles_before to authenticated, service_role;

-- A profile name another user owns.
select tests.authenticate_as('stranger');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice', tests.identity('stranger')) $$,
  '23505', 'the profile name "alice" belongs to another user, so choose another name (duplicate key value violates unique constraint "chat_participants_profile_key")',
  'a taken profile name names the name and the fix');
select is(tests.error_fields($$ insert into public.chat_participants (profile, payload) values ('alice', tests.identity('stranger')) $$),
  array['23505', 'chat_participants_profile_key', 'chat_participants', 'public', 'Choose another profile name.'],
  'a taken profile name keeps the unique constraint and its table');
select unalike(tests.error_message($$ insert into public.chat_participants (profile) values ('alice') $$),
  '%' || tests.user_id('alice')::text || '%', 'a taken profile name does not name its owner');
select is(substring(tests.error_message($$ insert into public.chat_participants (profile) values ('alice') $$) from 'unique constraint "([^"]+)"'),
  'chat_participants_profile_key', 'a taken profile name message carries the constraint the client parses');
select is_empty($$ select 1 from public.chat_participants where owner_id = tests.user_id('stranger') $$,
  'a taken profile name claims nothing for the caller');

-- A profile name the caller already owns.
select tests.authenticate_as('alice');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice', tests.identity('alice-2')) $$,
  '23505', 'the user already owns profile "alice", so there is nothing to claim (duplicate key value violates unique constraint "chat_participants_profile_key")',
  'reclaiming an owned profile says it is owned');
select is(tests.error_fields($$ insert into public.chat_participants (profile, payload) values ('alice', tests.identity('alice-2')) $$),
  array['23505', 'chat_participants_profile_key', 'chat_participants', 'public',
        'Use the profile as it is, or call reset_identity to publish a new identity key.'],
  'reclaiming an owned profile keeps the profile constraint');

-- A second profile for a user who owns one.
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice-second', tests.identity('alice-2')) $$,
  '23505', 'the user already owns profile "alice" and can own only one, so it cannot claim "alice-second" (duplicate key value violates unique constraint "chat_participants_owner_id_key")',
  'a second profile names the owned profile and the fix');
select is(tests.error_fields($$ insert into public.chat_participants (profile, payload) values ('alice-second', tests.identity('alice-2')) $$),
  array['23505', 'chat_participants_owner_id_key', 'chat_participants', 'public',
        'Keep using "alice", or sign in as another user to claim "alice-second".'],
  'a second profile keeps the owner constraint');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('bob', tests.identity('alice-2')) $$,
  '23505', 'the profile name "bob" belongs to another user, so choose another name (duplicate key value violates unique constraint "chat_participants_profile_key")',
  'a taken name is reported before a second profile');
select is_empty($$ select 1 from public.chat_participants where profile in ('alice-second') $$, 'a second profile is not created');

-- A malformed name is still reported as malformed, not as taken.
select throws_ok($$ insert into public.chat_participants (profile) values ('Alice') $$, '23514',
  'invalid profile name "Alice": use 3 to 64 characters from a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
  'a malformed name is reported before a conflict');

-- Topics to or from an unknown profile.
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'nobody-profile', '{"v":1,"type":"message"}') $$,
  '23503', 'the recipient profile "nobody-profile" does not exist, so check the name (insert or update on table "chat_topics" violates foreign key constraint "chat_topics_to_profile_fkey")',
  'a topic to an unknown recipient names the recipient');
select is(tests.error_fields($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'nobody-profile', '{"v":1,"type":"message"}') $$),
  array['23503', 'chat_topics_to_profile_fkey', 'chat_topics', 'public', 'Send to a profile that has been claimed in chat_participants.'],
  'a topic to an unknown recipient keeps the foreign key');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'nobody-profile', '{"v":1,"type":"other"}') $$,
  '23514', 'the topic payload must have "v": 1 and "type": "prekey" or "message"',
  'a malformed payload is reported before an unknown recipient');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'Nobody', '{"v":1,"type":"message"}') $$,
  '23514', 'new row for relation "chat_topics" violates check constraint "chats_to_profile_check"',
  'an uppercase recipient is reported by its check constraint');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('nobody-profile', 'bob', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"',
  'a signed-in user with an unknown sender still gets the policy error');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('bob', 'nobody-profile', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"',
  'a spoofed sender to an unknown recipient still gets the policy error');
select tests.authenticate_as('stranger');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('stranger', 'bob', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"',
  'a user without a profile still gets the policy error');

select tests.authenticate_as_service_role();
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('nobody-profile', 'bob', '{"v":1,"type":"message"}') $$,
  '23503', 'the sender profile "nobody-profile" does not exist, so claim it in chat_participants before sending (insert or update on table "chat_topics" violates foreign key constraint "chat_topics_from_profile_fkey")',
  'a topic from an unknown sender names the sender');
select is(tests.error_fields($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('nobody-profile', 'bob', '{"v":1,"type":"message"}') $$),
  array['23503', 'chat_topics_from_profile_fkey', 'chat_topics', 'public', 'Send from an existing profile.'],
  'a topic from an unknown sender keeps the foreign key');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'nobody-profile', '{"v":1,"type":"message"}') $$,
  '23503', 'the recipient profile "nobody-profile" does not exist, so check the name (insert or update on table "chat_topics" violates foreign key constraint "chat_topics_to_profile_fkey")',
  'the service role gets the recipient message too');
select tests.clear_authentication();
select is_empty($$ select 1 from public.chat_topics $$, 'topics to or from unknown profiles are not stored');
select is_empty($$ select 1 from private.rate_limit_counters $$, 'rejected topics leave no rate limit counter');

-- Identity keys that are not usable Ed25519 public keys.
select tests.authenticate_as('newcomer');
select throws_ok(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$, repeat('A', 43)),
  '23514', format('the identity payload field "identityKey" is the all-zero key "%s", a small-order point that no Ed25519 key pair has', repeat('A', 43)),
  'an all-zero identity key is rejected');
select is(tests.error_fields(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$, repeat('A', 43))),
  array['23514', 'chat_participants_payload_check', 'chat_participants', 'public', 'Publish {"v":1,"identityKey":"<base64url Ed25519 public key>"}.'],
  'an all-zero identity key names the payload constraint');
select throws_ok(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$,
    tests.base64url('\x0000000000000000000000000000000000000000000000000000000000000080'::bytea)),
  '23514', null, 'an all-zero key with the sign bit set is rejected');

create temporary table unusable_keys (description text, key_bytes bytea) on commit drop;
insert into unusable_keys values
  ('the identity point', '\x0100000000000000000000000000000000000000000000000000000000000000'),
  ('the point of order 2', '\xecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  ('a point of order 8', '\xc7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'),
  ('a point of order 8 with the sign bit', '\xc7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'),
  ('the other point of order 8', '\x26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'),
  ('y = p', '\xedffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  ('y = p + 1', '\xeeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  ('y = 2^255 - 1', '\xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  ('y = 2^255 - 1 with the sign bit', '\xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff');
grant select on unusable_keys to authenticated;

select throws_ok(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$, tests.base64url(key_bytes)),
  '23514', null, format('an identity key of %s is rejected', description))
from unusable_keys order by description;

select throws_ok(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$,
    tests.base64url('\x26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'::bytea)),
  '23514', 'the identity payload field "identityKey" is "JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU", a small-order point that no Ed25519 key pair has',
  'a small-order identity key is named in the message');
select throws_ok(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$,
    tests.base64url('\xedffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'::bytea)),
  '23514', 'the identity payload field "identityKey" is "7f_______________________________________38", a non-canonical Ed25519 encoding whose y-coordinate is at least 2^255 - 19',
  'a non-canonical identity key is named in the message');
select lives_ok(format($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":"%s"}') $$,
    tests.base64url('\xebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'::bytea)),
  'an identity key of y = p - 2 is accepted');
select tests.clear_authentication();
delete from public.chat_participants where owner_id = tests.user_id('newcomer');

-- reset_identity applies the same rule.
select tests.authenticate_as('bob');
select throws_ok(format($$ select public.reset_identity('{"v":1,"identityKey":"%s"}') $$, repeat('A', 43)),
  '22023', format('the identity payload field "identityKey" is the all-zero key "%s", a small-order point that no Ed25519 key pair has', repeat('A', 43)),
  'reset_identity rejects an all-zero identity key');
select throws_ok(format($$ select public.reset_identity('{"v":1,"identityKey":"%s"}') $$,
    tests.base64url('\xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'::bytea)),
  '22023', null, 'reset_identity rejects a non-canonical identity key');
select tests.clear_authentication();
select is((select payload from public.chat_participants where profile = 'bob'), tests.identity('bob'),
  'a rejected reset_identity keeps the identity');

select tests.authenticate_as_service_role();
select throws_ok(format($$ update public.chat_participants set payload = '{"v":1,"identityKey":"%s"}' where profile = 'bob' $$, repeat('A', 43)),
  '23514', format('the identity payload field "identityKey" is the all-zero key "%s", a small-order point that no Ed25519 key pair has', repeat('A', 43)),
  'the service role cannot store an all-zero identity key');
select tests.clear_authentication();

-- The check constraint itself applies the rule when the trigger is off.
alter table public.chat_participants disable trigger chat_participants_validate;
select throws_ok(format($$ insert into public.chat_participants (profile, payload, owner_id) values ('newcomer', '{"v":1,"identityKey":"%s"}', %L) $$,
    repeat('A', 43), tests.user_id('newcomer')),
  '23514', 'new row for relation "chat_participants" violates check constraint "chat_participants_payload_check"',
  'the payload constraint rejects an all-zero identity key');
alter table public.chat_participants enable trigger chat_participants_validate;

-- The constraints stay the final guard: with the explaining triggers off, as
-- for two concurrent inserts that both passed them, PostgreSQL raises the
-- same SQLSTATE on the same constraint.
alter table public.chat_participants disable trigger chat_participants_validate_uniqueness;
alter table public.chat_topics disable trigger chat_topics_explain_references;
select tests.authenticate_as('stranger');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice', tests.identity('stranger')) $$,
  '23505', 'duplicate key value violates unique constraint "chat_participants_profile_key"',
  'the profile name constraint still guards a raced claim');
select tests.authenticate_as('alice');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice-second', tests.identity('alice-2')) $$,
  '23505', 'duplicate key value violates unique constraint "chat_participants_owner_id_key"',
  'the owner constraint still guards a raced second profile');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'nobody-profile', '{"v":1,"type":"message"}') $$,
  '23503', 'insert or update on table "chat_topics" violates foreign key constraint "chat_topics_to_profile_fkey"',
  'the recipient foreign key still guards a raced send');
select tests.clear_authentication();
alter table public.chat_participants enable trigger chat_participants_validate_uniqueness;
alter table public.chat_topics enable trigger chat_topics_explain_references;

-- Nothing changed.
select results_eq($$ select id, profile, payload, owner_id from public.chat_participants order by id $$,
  $$ select id, profile, payload, owner_id from profiles_before order by id $$,
  'rejected writes leave every profile as it was');
select is_empty($$ select 1 from public.chat_topics $$, 'rejected writes store no topic');

-- Valid writes still pass the triggers.
select tests.authenticate_as('stranger');
select lives_ok($$ insert into public.chat_participants (profile, payload) values ('stranger', tests.identity('stranger')) $$,
  'a free profile name is claimed');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('stranger', 'bob', '{"v":1,"type":"message"}') $$,
  'a topic between existing profiles is sent');

select * from finish();
rollback;
