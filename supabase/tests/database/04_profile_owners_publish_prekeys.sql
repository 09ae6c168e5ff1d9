-- Who can touch chat_prekeys, and how publish_prekeys, prekey_counts and
-- reset_identity validate keys, enforce the caps and act on the caller's
-- profile only.
begin;
\ir _helpers.psql
select plan(47);

select tests.create_profile('alice');
select tests.create_profile('carol');
select tests.create_user('nobody');
select tests.create_user('blank');
insert into public.chat_participants (profile, payload, owner_id) values ('blank', null, tests.user_id('blank'));

-- chat_prekeys has no client access at all.
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.chat_prekeys $$, '42501', 'permission denied for table chat_prekeys', 'anonymous callers cannot read prekeys');
select throws_ok($$ insert into public.chat_prekeys (profile, kind, key_id, public_key) values ('alice', 'one_time_ec', 9, 'x') $$,
  '42501', 'permission denied for table chat_prekeys', 'anonymous callers cannot insert prekeys');
select tests.authenticate_as('alice');
select throws_ok($$ select * from public.chat_prekeys $$, '42501', 'permission denied for table chat_prekeys', 'the owner cannot read prekeys directly');
select throws_ok(
  $$ insert into public.chat_prekeys (profile, kind, key_id, public_key) values ('alice', 'one_time_ec', 9, tests.ec_prekey(9) ->> 'publicKey') $$,
  '42501', 'permission denied for table chat_prekeys', 'the owner cannot insert prekeys directly');
select throws_ok($$ update public.chat_prekeys set key_id = 10 $$, '42501', 'permission denied for table chat_prekeys', 'the owner cannot update prekeys');
select throws_ok($$ delete from public.chat_prekeys $$, '42501', 'permission denied for table chat_prekeys', 'the owner cannot delete prekeys directly');

-- as the profile owner
select is(
  public.publish_prekeys(tests.signed_ec_prekey(1), tests.ec_prekeys(1, 3), tests.kem_prekeys(1, 2), tests.kem_prekey(7, 'last-resort')),
  '{"oneTimePrekeys": 3, "kemPrekeys": 2, "signedPrekeyId": 1, "lastResortKemPrekeyId": 7}'::jsonb,
  'publish_prekeys stores all four kinds and returns the counts');
select is(public.prekey_counts(),
  '{"oneTimePrekeys": 3, "kemPrekeys": 2, "signedPrekeyId": 1, "lastResortKemPrekeyId": 7}'::jsonb,
  'prekey_counts returns the caller''s counts');
select is(public.publish_prekeys(tests.signed_ec_prekey(2), null, null, null) ->> 'signedPrekeyId', '2',
  'a new signed prekey replaces the current one');
select is(public.publish_prekeys(null, null, null, tests.kem_prekey(8, 'last-resort')) ->> 'lastResortKemPrekeyId', '8',
  'a new last-resort KEM prekey replaces the current one');
select is(public.publish_prekeys(null, tests.ec_prekeys(4, 2), null, null) ->> 'oneTimePrekeys', '5',
  'one-time prekeys are added to those stored');
select is(public.publish_prekeys(null, '[]', '[]', null),
  '{"oneTimePrekeys": 5, "kemPrekeys": 2, "signedPrekeyId": 2, "lastResortKemPrekeyId": 8}'::jsonb,
  'empty arrays and nulls change nothing');
select tests.clear_authentication();
select bag_eq(
  $$ select kind::text, count(*)::int from public.chat_prekeys where profile = 'alice' group by kind $$,
  $$ values ('signed_ec', 1), ('one_time_ec', 5), ('one_time_kem', 2), ('last_resort_kem', 1) $$,
  'the profile stores exactly one signed and one last-resort prekey');
select tests.authenticate_as('alice');

-- Duplicates and caps.
select throws_ok($$ select public.publish_prekeys(null, tests.ec_prekeys(5, 1), null, null) $$,
  '23505', 'duplicate key value violates unique constraint "chat_prekeys_profile_kind_key_id_key"',
  'a one-time key id already stored is rejected');
select throws_ok($$ select public.publish_prekeys(null, tests.ec_prekeys(20, 1) || tests.ec_prekeys(20, 1), null, null) $$,
  '23505', null, 'a key id repeated within one upload is rejected');
select throws_ok($$ select public.publish_prekeys(null, tests.ec_prekeys(100, 101), null, null) $$,
  '22023', 'one_time_prekeys has 101 keys, more than the maximum of 100 per upload', 'more than 100 one-time EC prekeys per upload are rejected');
select throws_ok($$ select public.publish_prekeys(null, null, tests.kem_prekeys(100, 101), null) $$,
  '22023', 'kem_prekeys has 101 keys, more than the maximum of 100 per upload', 'more than 100 one-time KEM prekeys per upload are rejected');
select lives_ok($$ select public.publish_prekeys(null, tests.ec_prekeys(100, 100), null, null) $$,
  '100 one-time EC prekeys per upload are accepted');
select tests.clear_authentication();
update private.settings set integer_value = 106 where name = 'prekey_stored_max_per_kind';
select tests.authenticate_as('alice');
select throws_ok($$ select public.publish_prekeys(null, tests.ec_prekeys(300, 2), null, null) $$,
  '22023', 'one_time_prekeys would bring profile "alice" to 107 stored one_time_ec prekeys, more than the maximum of 106',
  'an upload over the stored cap is rejected');
select is(public.prekey_counts() ->> 'oneTimePrekeys', '105', 'a rejected upload stores nothing');
select lives_ok($$ select public.publish_prekeys(null, tests.ec_prekeys(300, 1), null, null) $$, 'an upload up to the stored cap is accepted');

-- Malformed keys.
select throws_ok($$ select public.publish_prekeys(null, '{"keyId":1}', null, null) $$,
  '22023', 'one_time_prekeys must be a JSON array of prekeys', 'a prekey list that is not an array is rejected');
select throws_ok($$ select public.publish_prekeys(null, jsonb_build_array(tests.signed_ec_prekey(400)), null, null) $$,
  '22023', 'one_time_prekeys[0]: must have exactly the fields keyId, publicKey', 'a one-time EC prekey with a signature is rejected');
select throws_ok($$ select public.publish_prekeys(tests.ec_prekey(400), null, null, null) $$,
  '22023', 'signed_prekey: must have exactly the fields keyId, publicKey, signature', 'a signed prekey without a signature is rejected');
select throws_ok($$ select public.publish_prekeys(null, jsonb_build_array(tests.ec_prekey(401), tests.ec_prekey(0)), null, null) $$,
  '22023', 'one_time_prekeys[1]: keyId must be an integer from 1 to 2147483647', 'a key id of 0 is rejected');
select throws_ok($$ select public.publish_prekeys(null, jsonb_build_array(tests.ec_prekey(401) || '{"keyId":2147483648}'), null, null) $$,
  '22023', 'one_time_prekeys[0]: keyId must be an integer from 1 to 2147483647', 'a key id above 2147483647 is rejected');
select throws_ok($$ select public.publish_prekeys(null, jsonb_build_array(tests.ec_prekey(401) || '{"keyId":1.5}'), null, null) $$,
  '22023', null, 'a fractional key id is rejected');
select throws_ok($$ select public.publish_prekeys(null, jsonb_build_array(tests.ec_prekey(401) || '{"keyId":"401"}'), null, null) $$,
  '22023', null, 'a key id given as a string is rejected');
select throws_ok($$ select public.publish_prekeys(null, null, jsonb_build_array(tests.signed_ec_prekey(401)), null) $$,
  '22023', 'kem_prekeys[0]: publicKey must be a 1568-byte ML-KEM-1024 public key in unpadded base64url (2091 characters)',
  'an X25519 key given as a KEM prekey is rejected');
select throws_ok($$ select public.publish_prekeys(null, null, null, tests.kem_prekey(9) || jsonb_build_object('signature', tests.base64url(tests.bytes('s', 63)))) $$,
  '22023', 'last_resort_kem_prekey: signature must be a 64-byte Ed25519 signature in unpadded base64url (86 characters)',
  'a short signature is rejected');
select throws_ok($$ select public.publish_prekeys(tests.signed_ec_prekey(500), null, jsonb_build_array(tests.kem_prekey(500) - 'signature'), null) $$,
  '22023', null, 'one malformed key rejects the whole upload');
select is(public.prekey_counts() ->> 'signedPrekeyId', '2', 'a rejected upload keeps the current signed prekey');

-- as a stranger: keys go to the caller's own profile only.
select tests.authenticate_as('carol');
select is(public.publish_prekeys(tests.signed_ec_prekey(1), tests.ec_prekeys(1, 1), null, null) ->> 'oneTimePrekeys', '1',
  'a stranger publishes to its own profile');
select tests.authenticate_as('alice');
select is(public.prekey_counts() ->> 'oneTimePrekeys', '106', 'a stranger''s upload leaves the owner''s keys alone');

-- Users without a profile or identity.
select tests.authenticate_as('nobody');
select throws_ok($$ select public.publish_prekeys(tests.signed_ec_prekey(1), null, null, null) $$,
  'P0002', 'the calling user has no profile', 'a user without a profile cannot publish prekeys');
select throws_ok($$ select public.prekey_counts() $$, 'P0002', 'the calling user has no profile', 'a user without a profile has no counts');
select tests.authenticate_as('blank');
select throws_ok($$ select public.publish_prekeys(tests.signed_ec_prekey(1), null, null, null) $$,
  'P0002', 'profile "blank" has no identity payload', 'a profile without an identity cannot publish prekeys');

-- reset_identity
select tests.authenticate_as('alice');
select throws_ok($$ select public.reset_identity('{"v":1}') $$,
  '22023', 'the identity payload must have exactly the fields "v" and "identityKey"', 'reset_identity rejects a malformed identity');
select throws_ok($$ select public.reset_identity(null) $$, '22023', 'the identity payload is missing', 'reset_identity rejects a missing identity');
select lives_ok($$ select public.reset_identity(tests.identity('alice-2')) $$, 'the owner resets its identity');
select is((select payload from public.chat_participants where profile = 'alice'), tests.identity('alice-2'),
  'reset_identity stores the new identity');
select is(public.prekey_counts(),
  '{"oneTimePrekeys": 0, "kemPrekeys": 0, "signedPrekeyId": null, "lastResortKemPrekeyId": null}'::jsonb,
  'reset_identity deletes every prekey signed by the old identity');
select tests.authenticate_as('carol');
select is(public.prekey_counts() ->> 'oneTimePrekeys', '1', 'reset_identity leaves other profiles'' keys alone');
select tests.authenticate_as('nobody');
select throws_ok($$ select public.reset_identity(tests.identity('nobody')) $$, 'P0002', 'the calling user has no profile',
  'a user without a profile cannot reset an identity');

-- anonymous and the service role cannot call the key functions.
select tests.authenticate_as_anon();
select throws_ok($$ select public.publish_prekeys(null, null, null, null) $$, '42501', 'permission denied for function publish_prekeys',
  'anonymous callers cannot publish prekeys');
select throws_ok($$ select public.reset_identity(tests.identity('x')) $$, '42501', 'permission denied for function reset_identity',
  'anonymous callers cannot reset an identity');
select tests.authenticate_as_service_role();
select throws_ok($$ select public.prekey_counts() $$, '42501', 'permission denied for function prekey_counts',
  'the service role cannot call prekey_counts');

select * from finish();
rollback;
