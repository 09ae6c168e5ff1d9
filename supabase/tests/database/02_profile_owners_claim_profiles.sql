-- Who can read, claim, change and delete profiles in chat_participants, and
-- which profile names and identity payloads the database accepts.
begin;
\ir _helpers.psql
select plan(44);

select tests.create_profile('alice');
select tests.create_user('stranger');
select tests.create_user('newcomer');

-- anonymous
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.chat_participants $$, '42501', 'permission denied for table chat_participants',
  'anonymous callers cannot read profiles');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('anonymous', null) $$,
  '42501', 'permission denied for table chat_participants', 'anonymous callers cannot claim a profile');

-- as the profile owner
select tests.authenticate_as('alice');
select results_eq($$ select profile, payload from public.chat_participants where profile = 'alice' $$,
  $$ values ('alice'::text, tests.identity('alice')) $$, 'the owner reads its profile and identity');
select throws_ok($$ update public.chat_participants set payload = tests.identity('other') where profile = 'alice' $$,
  '42501', 'permission denied for table chat_participants', 'the owner cannot update its identity payload directly');
select throws_ok($$ update public.chat_participants set profile = 'alice2' where profile = 'alice' $$,
  '42501', 'permission denied for table chat_participants', 'the owner cannot rename its profile');
select throws_ok($$ delete from public.chat_participants where profile = 'alice' $$,
  '42501', 'permission denied for table chat_participants', 'the owner cannot delete its profile and free the name');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice-second', null) $$,
  '23505', 'the user already owns profile "alice" and can own only one, so it cannot claim "alice-second" (duplicate key value violates unique constraint "chat_participants_owner_id_key")',
  'a user cannot claim a second profile');

-- as a stranger
select tests.authenticate_as('stranger');
select results_eq($$ select profile, payload from public.chat_participants where profile = 'alice' $$,
  $$ values ('alice'::text, tests.identity('alice')) $$, 'a signed-in stranger reads another profile''s public identity');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('alice', tests.identity('stranger')) $$,
  '23505', 'the profile name "alice" belongs to another user, so choose another name (duplicate key value violates unique constraint "chat_participants_profile_key")',
  'a stranger cannot take over a claimed profile name');
select throws_ok(
  format($$ insert into public.chat_participants (profile, payload, owner_id) values ('stranger', null, %L) $$, tests.user_id('newcomer')),
  '42501', 'permission denied for table chat_participants', 'a stranger cannot claim a profile for another user');
select throws_ok($$ update public.chat_participants set payload = null where profile = 'alice' $$,
  '42501', 'permission denied for table chat_participants', 'a stranger cannot update another profile');
select throws_ok($$ delete from public.chat_participants where profile = 'alice' $$,
  '42501', 'permission denied for table chat_participants', 'a stranger cannot delete another profile');
select lives_ok($$ insert into public.chat_participants (profile, payload) values ('stranger', tests.identity('stranger')) $$,
  'a user claims a free profile name');
select is((select owner_id from public.chat_participants where profile = 'stranger'), tests.user_id('stranger'),
  'a claimed profile belongs to the caller');

-- Profile names.
select tests.authenticate_as('newcomer');
select throws_ok($$ insert into public.chat_participants (profile) values ('Bob') $$, '23514',
  'invalid profile name "Bob": use 3 to 64 characters from a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
  'an uppercase profile name is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values ('') $$, '23514', null, 'an empty profile name is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values ('ab') $$, '23514', null, 'a profile name of two characters is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values (repeat('a', 65)) $$, '23514', null,
  'a profile name over 64 characters is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values ('bob smith') $$, '23514', null,
  'a profile name with a space is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values (E'bob\tx') $$, '23514', null,
  'a profile name with a tab is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values (E'bob\u0001x') $$, '23514', null,
  'a profile name with a control character is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values (' bob') $$, '23514', null,
  'a profile name with leading whitespace is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values ('-bob') $$, '23514', null,
  'a profile name starting with a dash is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values ('bøb') $$, '23514', null,
  'a profile name with a non-ASCII letter is rejected');
select throws_ok($$ insert into public.chat_participants (profile) values ('bob/x') $$, '23514', null,
  'a profile name with a slash is rejected');
select lives_ok($$ insert into public.chat_participants (profile) values (repeat('a', 64)) $$,
  'a profile name of 64 characters is accepted');

-- Identity payloads.
select tests.clear_authentication();
delete from public.chat_participants where owner_id = tests.user_id('newcomer');
select tests.authenticate_as('newcomer');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('newcomer', '"text"') $$, '23514',
  'the identity payload must be a JSON object', 'an identity payload that is not an object is rejected');
select throws_ok($$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1}') $$, '23514',
  'the identity payload must have exactly the fields "v" and "identityKey"', 'an identity payload without identityKey is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload) values ('newcomer', tests.identity('n') || '{"extra":true}') $$,
  '23514', 'the identity payload must have exactly the fields "v" and "identityKey"', 'an identity payload with an extra field is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload) values ('newcomer', tests.identity('n') || '{"v":2}') $$,
  '23514', 'the identity payload field "v" must be the number 1', 'an identity payload of another version is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload) values ('newcomer', tests.identity('n') || '{"v":"1"}') $$,
  '23514', 'the identity payload field "v" must be the number 1', 'an identity payload with a string version is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload)
     values ('newcomer', jsonb_build_object('v', 1, 'identityKey', left(tests.identity('n') ->> 'identityKey', 42))) $$,
  '23514', 'the identity payload field "identityKey" must be a 32-byte Ed25519 public key in unpadded base64url (43 characters)',
  'an identity key one character short is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload)
     values ('newcomer', jsonb_build_object('v', 1, 'identityKey', (tests.identity('n') ->> 'identityKey') || 'A')) $$,
  '23514', null, 'an identity key one character long is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload)
     values ('newcomer', jsonb_build_object('v', 1, 'identityKey', encode(tests.bytes('n', 32), 'base64'))) $$,
  '23514', null, 'a padded standard base64 identity key is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload)
     values ('newcomer', jsonb_build_object('v', 1, 'identityKey', repeat('A', 42) || 'B')) $$,
  '23514', null, 'a non-canonical identity key with unused bits set is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload)
     values ('newcomer', jsonb_build_object('v', 1, 'identityKey', repeat('A', 41) || '+A')) $$,
  '23514', null, 'an identity key with a character outside base64url is rejected');
select throws_ok(
  $$ insert into public.chat_participants (profile, payload) values ('newcomer', '{"v":1,"identityKey":12}') $$,
  '23514', null, 'an identity key that is not a string is rejected');
select is_empty($$ select 1 from public.chat_participants where profile = 'newcomer' $$,
  'rejected identity payloads store no profile');
select lives_ok($$ insert into public.chat_participants (profile, payload) values ('newcomer', tests.identity('newcomer')) $$,
  'a well-formed identity payload is accepted');

-- as the service role
select tests.authenticate_as_service_role();
select ok((select count(*) from public.chat_participants) >= 3, 'the service role reads every profile');
select throws_ok($$ update public.chat_participants set profile = 'alice-renamed' where profile = 'alice' $$,
  '42501', 'profile names cannot be changed: "alice" stays "alice"', 'even the service role cannot rename a profile');
select throws_ok(
  format($$ update public.chat_participants set owner_id = %L where profile = 'alice' $$, tests.user_id('newcomer')),
  '42501', null, 'even the service role cannot move a profile to another user');
select throws_ok($$ update public.chat_participants set payload = '{"v":1}' where profile = 'alice' $$,
  '23514', null, 'even the service role cannot store a malformed identity payload');

-- Deleting the auth user.
select tests.clear_authentication();
delete from auth.users where id = tests.user_id('alice');
select is_empty($$ select 1 from public.chat_participants where profile = 'alice' $$,
  'deleting the auth user deletes its profile');

select * from finish();
rollback;
