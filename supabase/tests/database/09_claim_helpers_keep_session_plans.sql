-- The helpers that claim_prekey_bundle calls on every claim are PL/pgSQL,
-- which keeps its plans for the whole session, because a SQL function with a
-- SET clause is planned again in every transaction. They return what their
-- SQL versions returned.
begin;
\ir _helpers.psql
select plan(9);

select tests.create_profile('bob');
select tests.store_prekeys('bob', 2, 1, true);

-- in the catalog
select is(
  (select l.lanname::text from pg_proc p join pg_language l on l.oid = p.prolang
   where p.oid = 'private.take_one_time_prekey(text, public.prekey_kind)'::regprocedure),
  'plpgsql',
  'take_one_time_prekey is PL/pgSQL, so its plan lasts the session');
select is(
  (select l.lanname::text from pg_proc p join pg_language l on l.oid = p.prolang
   where p.oid = 'private.profile_name_error(text)'::regprocedure),
  'plpgsql',
  'profile_name_error is PL/pgSQL, so its plan lasts the session');

-- as the function owner, the role claim_prekey_bundle runs as
select is(private.take_one_time_prekey('bob', 'one_time_ec'), tests.ec_prekey(1),
  'the first take returns the one-time EC prekey with the lowest key id, without a signature');
select is(private.take_one_time_prekey('bob', 'one_time_ec'), tests.ec_prekey(2),
  'the next take returns the next one-time EC prekey');
select is(private.take_one_time_prekey('bob', 'one_time_ec'), null::jsonb,
  'a take returns null once the one-time EC prekeys are used up');
select is(private.take_one_time_prekey('bob', 'one_time_kem'), tests.kem_prekey(1),
  'a take of a one-time KEM prekey returns it with its signature');

-- profile_name_error
select is(private.profile_name_error(null), 'the profile name is missing',
  'a missing profile name is reported as missing');
select is(private.profile_name_error('bob.smith_2'), null,
  'a valid profile name has no error');
select is(private.profile_name_error('Bob'),
  'invalid profile name "Bob": use 3 to 64 characters from a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
  'an invalid profile name is quoted in the error with the rule');

select * from finish();
rollback;
