-- claim_prekey_bundle hands out each one-time key once, falls back to the
-- last-resort KEM prekey, rejects unknown or keyless profiles, and is rate
-- limited per caller and target.
begin;
\ir _helpers.psql
select plan(35);

select tests.create_profile('alice');
select tests.create_profile('bob');
select tests.create_profile('carol');
select tests.create_profile('dave');
select tests.create_profile('erin');
select tests.create_profile('frank');
select tests.create_user('nobody');
select tests.store_prekeys('bob', 2, 1, true);
select tests.store_prekeys('dave', 1, 1, true);
select tests.store_prekeys('frank', 1, 0, false);

-- as a sender claiming until exhaustion
select tests.authenticate_as('alice');
create temporary table claimed (n integer, bundle jsonb) on commit drop;
grant all on claimed to authenticated;
insert into claimed values (1, public.claim_prekey_bundle('bob'));
select is((select bundle from claimed where n = 1),
  jsonb_build_object(
    'profile', 'bob',
    'identity', tests.identity('bob'),
    'signedPrekey', tests.signed_ec_prekey(1),
    'oneTimePrekey', tests.ec_prekey(1),
    'kemPrekey', tests.kem_prekey(1) || '{"lastResort": false}'
  ),
  'the first bundle has the identity, the signed prekey and the first one-time EC and KEM prekeys');
insert into claimed values (2, public.claim_prekey_bundle('bob'));
select is((select bundle -> 'oneTimePrekey' from claimed where n = 2), tests.ec_prekey(2), 'the second bundle has the next one-time EC prekey');
select is((select bundle -> 'kemPrekey' from claimed where n = 2), tests.kem_prekey(1000000, 'last-resort') || '{"lastResort": true}',
  'once the one-time KEM prekeys are used up, the bundle has the last-resort KEM prekey');
insert into claimed values (3, public.claim_prekey_bundle('bob'));
select is((select bundle -> 'oneTimePrekey' from claimed where n = 3), 'null'::jsonb,
  'once the one-time EC prekeys are used up, oneTimePrekey is null');
select is((select bundle -> 'kemPrekey' ->> 'lastResort' from claimed where n = 3), 'true',
  'the last-resort KEM prekey is handed out again');
select is((select bundle -> 'signedPrekey' from claimed where n = 3), tests.signed_ec_prekey(1),
  'the signed prekey stays in every bundle');
select is((select count(distinct bundle -> 'oneTimePrekey' ->> 'keyId')::int from claimed where bundle -> 'oneTimePrekey' <> 'null'), 2,
  'no one-time EC prekey was handed out twice');
select tests.authenticate_as('bob');
select is(public.prekey_counts(),
  '{"oneTimePrekeys": 0, "kemPrekeys": 0, "signedPrekeyId": 1, "lastResortKemPrekeyId": 1000000}'::jsonb,
  'claimed one-time keys are deleted and the long-lived ones kept');
select tests.authenticate_as('alice');

-- Profiles without keys.
select throws_ok($$ select public.claim_prekey_bundle('frank') $$, 'P0002',
  'profile "frank" has no KEM prekey left and no last-resort KEM prekey', 'a profile without any KEM prekey has no bundle');
select tests.authenticate_as('frank');
select is(public.prekey_counts() ->> 'oneTimePrekeys', '1', 'a failed claim hands out no one-time prekey');
select tests.authenticate_as('alice');
select throws_ok($$ select public.claim_prekey_bundle('erin') $$, 'P0002',
  'profile "erin" has not published a signed prekey', 'a profile without a signed prekey has no bundle');
select throws_ok($$ select public.claim_prekey_bundle('nobody-here') $$, 'P0002',
  'profile "nobody-here" not found or without an identity', 'an unknown profile has no bundle');
select tests.clear_authentication();
insert into public.chat_participants (profile, payload, owner_id) values ('blank', null, tests.user_id('nobody'));
select tests.authenticate_as('alice');
select throws_ok($$ select public.claim_prekey_bundle('blank') $$, 'P0002',
  'profile "blank" not found or without an identity', 'a profile without an identity has no bundle');
select throws_ok($$ select public.claim_prekey_bundle('Bob') $$, '22023',
  'invalid profile name "Bob": use 3 to 64 characters from a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
  'a malformed profile name is rejected');
select throws_ok($$ select public.claim_prekey_bundle(null) $$, '22023', 'the profile name is missing', 'a missing profile name is rejected');

-- Claim rate limit: 6 claims per caller and target per 10 minutes by default.
select lives_ok($$ select public.claim_prekey_bundle('bob') $$, 'the fourth claim of the window succeeds');
select lives_ok($$ select public.claim_prekey_bundle('bob') $$, 'the fifth claim of the window succeeds');
select lives_ok($$ select public.claim_prekey_bundle('bob') $$, 'the sixth claim of the window succeeds');
select throws_ok($$ select public.claim_prekey_bundle('bob') $$, 'PT429',
  'more than 6 prekey bundle claims for profile "bob" within 00:10:00', 'the seventh claim of the window is rate limited');
select matches(tests.error_hint($$ select public.claim_prekey_bundle('bob') $$), '^retry after [0-9]+ seconds$',
  'the claim rate limit error says when to retry');
select isnt((public.claim_prekey_bundle('dave') -> 'oneTimePrekey'), 'null'::jsonb, 'the limit applies per target');
select tests.authenticate_as('carol');
select isnt((public.claim_prekey_bundle('bob') -> 'kemPrekey'), null, 'the limit applies per caller');
select tests.clear_authentication();
update private.settings set integer_value = 8 where name = 'claim_rate_limit_max';
select tests.authenticate_as('alice');
select lives_ok($$ select public.claim_prekey_bundle('bob') $$, 'the claim limit follows its setting');
select tests.clear_authentication();
update private.settings set integer_value = 100 where name = 'claim_rate_limit_max';
select tests.store_prekeys('carol', 3, 3, true);
select tests.authenticate_as('alice');
select lives_ok($$ select public.claim_prekey_bundle('carol') from generate_series(1, 3) $$, 'a caller claims three bundles');
select tests.clear_authentication();
update private.settings set integer_value = 3 where name = 'claim_rate_limit_max';
select tests.authenticate_as('alice');
select throws_ok($$ select public.claim_prekey_bundle('carol') $$, 'PT429', null, 'a caller at the limit is rejected');
select tests.authenticate_as('carol');
select is(public.prekey_counts() ->> 'oneTimePrekeys', '0', 'three claims used three one-time EC prekeys');
select tests.clear_authentication();
update private.rate_limit_counters set window_start = window_start - interval '1 day', window_end = window_end - interval '1 day'
  where bucket = 'prekey_claim' and target = 'carol';
select tests.authenticate_as('alice');
select lives_ok($$ select public.claim_prekey_bundle('carol') $$, 'a caller may claim again in the next window');

-- Who may claim.
select tests.authenticate_as('nobody');
select is(public.claim_prekey_bundle('dave') ->> 'profile', 'dave', 'a signed-in user without a profile may claim a bundle');
select tests.authenticate_as_anon();
select throws_ok($$ select public.claim_prekey_bundle('bob') $$, '42501', 'permission denied for function claim_prekey_bundle',
  'anonymous callers cannot claim bundles');
select tests.authenticate_as_service_role();
select throws_ok($$ select public.claim_prekey_bundle('bob') $$, '42501', 'permission denied for function claim_prekey_bundle',
  'the service role cannot claim bundles');
select tests.clear_authentication();
select throws_ok($$ select public.claim_prekey_bundle('bob') $$, '42501', 'claiming a prekey bundle requires a signed-in user',
  'a caller without a user id cannot claim bundles');

-- The bundle's JSON shape.
select tests.clear_authentication();
update private.settings set integer_value = 100 where name = 'claim_rate_limit_max';
select tests.authenticate_as('alice');
select bag_eq($$ select jsonb_object_keys(public.claim_prekey_bundle('dave')) $$,
  array['profile', 'identity', 'signedPrekey', 'oneTimePrekey', 'kemPrekey'], 'a bundle has exactly the documented fields');
select bag_eq($$ select jsonb_object_keys(public.claim_prekey_bundle('dave') -> 'kemPrekey') $$,
  array['keyId', 'publicKey', 'signature', 'lastResort'], 'a bundle''s KEM prekey has exactly the documented fields');
select bag_eq($$ select jsonb_object_keys(public.claim_prekey_bundle('dave') -> 'signedPrekey') $$,
  array['keyId', 'publicKey', 'signature'], 'a bundle''s signed prekey has exactly the documented fields');
select is(jsonb_typeof(public.claim_prekey_bundle('dave') -> 'signedPrekey' -> 'keyId'), 'number', 'key ids in a bundle are JSON numbers');

select * from finish();
rollback;
