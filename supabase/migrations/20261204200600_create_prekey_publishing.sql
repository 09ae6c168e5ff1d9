-- Creates the functions a profile owner uses to manage its keys:
-- publish_prekeys, prekey_counts and reset_identity.
--
-- They run with their owner's rights because clients have no privileges on
-- chat_prekeys and cannot update chat_participants.payload; each one acts
-- only on the profile of the calling user (auth.uid()). The database checks
-- every key's format and the upload and storage caps. The publish-keys Edge
-- Function also verifies each signature before calling them; a client that
-- calls them directly with bad signatures only breaks its own bundles,
-- because claimants verify signatures too.

-- Returns the calling user's profile and locks its row against concurrent
-- key uploads. Raises when the caller is anonymous or has no profile.
create function private.lock_caller_profile()
returns public.chat_participants
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  participant public.chat_participants;
begin
  if caller is null then
    raise exception 'managing keys requires a signed-in user'
      using errcode = 'insufficient_privilege';
  end if;

  -- "for no key update" still lets topic inserts take their foreign key locks.
  select * into participant
  from public.chat_participants p
  where p.owner_id = caller
  for no key update;

  if not found then
    raise exception 'the calling user has no profile'
      using errcode = 'P0002',
            hint = 'Claim one by inserting {"profile": ..., "payload": <identity>} into chat_participants.';
  end if;

  return participant;
end;
$$;
comment on function private.lock_caller_profile() is 'Returns the calling user''s chat_participants row, locked against concurrent key uploads; raises 42501 without a user and P0002 without a profile.';
revoke all on function private.lock_caller_profile() from public;

-- Returns why a JSON value is not a prekey of the given kind, or null.
create function private.prekey_error(prekey jsonb, kind public.prekey_kind)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  expected_fields text[] := case
    when prekey_error.kind = 'one_time_ec' then array['keyId', 'publicKey']
    else array['keyId', 'publicKey', 'signature']
  end;
  key_bytes integer := case when prekey_error.kind in ('signed_ec', 'one_time_ec') then 32 else 1568 end;
begin
  if prekey_error.prekey is null or jsonb_typeof(prekey_error.prekey) <> 'object' then
    return 'must be a JSON object';
  end if;

  if (select array_agg(k order by k) from jsonb_object_keys(prekey_error.prekey) k) <> expected_fields then
    return format('must have exactly the fields %s', array_to_string(expected_fields, ', '));
  end if;

  if jsonb_typeof(prekey_error.prekey -> 'keyId') <> 'number'
     or (prekey_error.prekey ->> 'keyId') !~ '^[1-9][0-9]{0,9}$'
     or (prekey_error.prekey ->> 'keyId')::bigint > 2147483647 then
    return 'keyId must be an integer from 1 to 2147483647';
  end if;

  if jsonb_typeof(prekey_error.prekey -> 'publicKey') <> 'string'
     or not private.is_base64url(prekey_error.prekey ->> 'publicKey', key_bytes) then
    return format(
      'publicKey must be a %s-byte %s public key in unpadded base64url (%s characters)',
      key_bytes,
      case when key_bytes = 32 then 'X25519' else 'ML-KEM-1024' end,
      (key_bytes * 4 + 2) / 3
    );
  end if;

  if 'signature' = any(expected_fields)
     and (jsonb_typeof(prekey_error.prekey -> 'signature') <> 'string'
          or not private.is_base64url(prekey_error.prekey ->> 'signature', 64)) then
    return 'signature must be a 64-byte Ed25519 signature in unpadded base64url (86 characters)';
  end if;

  return null;
end;
$$;
comment on function private.prekey_error(jsonb, public.prekey_kind) is 'Returns why a JSON value is not a valid prekey {keyId, publicKey[, signature]} of the given kind, or null when it is valid.';
revoke all on function private.prekey_error(jsonb, public.prekey_kind) from public;

-- Raises invalid_parameter_value unless every element of a prekey array is valid.
create function private.assert_prekey_array(prekeys jsonb, kind public.prekey_kind, argument_name text, upload_max bigint)
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  element jsonb;
  element_index integer := 0;
  problem text;
begin
  if jsonb_typeof(assert_prekey_array.prekeys) <> 'array' then
    raise exception '% must be a JSON array of prekeys', assert_prekey_array.argument_name
      using errcode = 'invalid_parameter_value';
  end if;

  if jsonb_array_length(assert_prekey_array.prekeys) > assert_prekey_array.upload_max then
    raise exception '% has % keys, more than the maximum of % per upload',
        assert_prekey_array.argument_name, jsonb_array_length(assert_prekey_array.prekeys), assert_prekey_array.upload_max
      using errcode = 'invalid_parameter_value',
            hint = 'Upload the keys in several calls.';
  end if;

  for element in select value from jsonb_array_elements(assert_prekey_array.prekeys) loop
    problem := private.prekey_error(element, assert_prekey_array.kind);
    if problem is not null then
      raise exception '%[%]: %', assert_prekey_array.argument_name, element_index, problem
        using errcode = 'invalid_parameter_value';
    end if;
    element_index := element_index + 1;
  end loop;
end;
$$;
comment on function private.assert_prekey_array(jsonb, public.prekey_kind, text, bigint) is 'Raises 22023 when a prekey array is not a JSON array, has more than upload_max keys, or holds an invalid key.';
revoke all on function private.assert_prekey_array(jsonb, public.prekey_kind, text, bigint) from public;

create function private.prekey_counts_of(profile text)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'oneTimePrekeys', count(*) filter (where k.kind = 'one_time_ec'),
    'kemPrekeys', count(*) filter (where k.kind = 'one_time_kem'),
    'signedPrekeyId', max(k.key_id) filter (where k.kind = 'signed_ec'),
    'lastResortKemPrekeyId', max(k.key_id) filter (where k.kind = 'last_resort_kem')
  )
  from public.chat_prekeys k
  where k.profile = prekey_counts_of.profile
$$;
comment on function private.prekey_counts_of(text) is 'Returns a profile''s remaining prekey counts as {oneTimePrekeys, kemPrekeys, signedPrekeyId, lastResortKemPrekeyId}.';
revoke all on function private.prekey_counts_of(text) from public;

-- Inserts validated one-time prekeys of one kind, within the storage cap.
create function private.store_one_time_prekeys(profile text, prekeys jsonb, kind public.prekey_kind, argument_name text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  stored bigint;
  stored_max bigint := private.integer_setting('prekey_stored_max_per_kind');
  uploaded integer := jsonb_array_length(store_one_time_prekeys.prekeys);
begin
  select count(*) into stored
  from public.chat_prekeys k
  where k.profile = store_one_time_prekeys.profile
    and k.kind = store_one_time_prekeys.kind;

  if stored + uploaded > stored_max then
    raise exception '% would bring profile % to % stored % prekeys, more than the maximum of %',
        store_one_time_prekeys.argument_name, to_jsonb(store_one_time_prekeys.profile)::text,
        stored + uploaded, store_one_time_prekeys.kind, stored_max
      using errcode = 'invalid_parameter_value',
            hint = format('%s are stored; upload at most %s more.', stored, greatest(stored_max - stored, 0));
  end if;

  insert into public.chat_prekeys (profile, kind, key_id, public_key, signature)
  select
    store_one_time_prekeys.profile,
    store_one_time_prekeys.kind,
    (e.value ->> 'keyId')::integer,
    e.value ->> 'publicKey',
    e.value ->> 'signature'
  from jsonb_array_elements(store_one_time_prekeys.prekeys) e;
end;
$$;
comment on function private.store_one_time_prekeys(text, jsonb, public.prekey_kind, text) is 'Inserts one-time prekeys of one kind for a profile; raises 22023 when prekey_stored_max_per_kind would be exceeded.';
revoke all on function private.store_one_time_prekeys(text, jsonb, public.prekey_kind, text) from public;

-- Replaces the single key of a kind (signed EC or last-resort KEM).
create function private.replace_current_prekey(profile text, prekey jsonb, kind public.prekey_kind)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  delete from public.chat_prekeys k
  where k.profile = replace_current_prekey.profile
    and k.kind = replace_current_prekey.kind;

  insert into public.chat_prekeys (profile, kind, key_id, public_key, signature)
  values (
    replace_current_prekey.profile,
    replace_current_prekey.kind,
    (replace_current_prekey.prekey ->> 'keyId')::integer,
    replace_current_prekey.prekey ->> 'publicKey',
    replace_current_prekey.prekey ->> 'signature'
  );
end;
$$;
comment on function private.replace_current_prekey(text, jsonb, public.prekey_kind) is 'Replaces a profile''s signed EC prekey or last-resort KEM prekey with a validated new one.';
revoke all on function private.replace_current_prekey(text, jsonb, public.prekey_kind) from public;

create function public.publish_prekeys(
  signed_prekey jsonb default null,
  one_time_prekeys jsonb default null,
  kem_prekeys jsonb default null,
  last_resort_kem_prekey jsonb default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  participant public.chat_participants := private.lock_caller_profile();
  upload_max bigint := private.integer_setting('prekey_upload_max_per_kind');
  problem text;
begin
  if participant.payload is null then
    raise exception 'profile % has no identity payload', to_jsonb(participant.profile)::text
      using errcode = 'P0002',
            hint = 'Publish the identity first with reset_identity.';
  end if;

  -- Validate every argument before writing anything.
  if publish_prekeys.signed_prekey is not null then
    problem := private.prekey_error(publish_prekeys.signed_prekey, 'signed_ec');
    if problem is not null then
      raise exception 'signed_prekey: %', problem using errcode = 'invalid_parameter_value';
    end if;
  end if;

  if publish_prekeys.last_resort_kem_prekey is not null then
    problem := private.prekey_error(publish_prekeys.last_resort_kem_prekey, 'last_resort_kem');
    if problem is not null then
      raise exception 'last_resort_kem_prekey: %', problem using errcode = 'invalid_parameter_value';
    end if;
  end if;

  if publish_prekeys.one_time_prekeys is not null then
    perform private.assert_prekey_array(publish_prekeys.one_time_prekeys, 'one_time_ec', 'one_time_prekeys', upload_max);
  end if;

  if publish_prekeys.kem_prekeys is not null then
    perform private.assert_prekey_array(publish_prekeys.kem_prekeys, 'one_time_kem', 'kem_prekeys', upload_max);
  end if;

  if publish_prekeys.signed_prekey is not null then
    perform private.replace_current_prekey(participant.profile, publish_prekeys.signed_prekey, 'signed_ec');
  end if;

  if publish_prekeys.last_resort_kem_prekey is not null then
    perform private.replace_current_prekey(participant.profile, publish_prekeys.last_resort_kem_prekey, 'last_resort_kem');
  end if;

  if publish_prekeys.one_time_prekeys is not null then
    perform private.store_one_time_prekeys(participant.profile, publish_prekeys.one_time_prekeys, 'one_time_ec', 'one_time_prekeys');
  end if;

  if publish_prekeys.kem_prekeys is not null then
    perform private.store_one_time_prekeys(participant.profile, publish_prekeys.kem_prekeys, 'one_time_kem', 'kem_prekeys');
  end if;

  return private.prekey_counts_of(participant.profile);
end;
$$;
comment on function public.publish_prekeys(jsonb, jsonb, jsonb, jsonb) is
  'Stores prekeys for the caller''s profile and returns its counts as prekey_counts() does. Null arguments change nothing; a signed or last-resort key replaces the current one. Raises 22023 for a malformed key or a cap (prekey_upload_max_per_kind, prekey_stored_max_per_kind), 23505 for a key id already stored, P0002 without a profile or identity.';
revoke all on function public.publish_prekeys(jsonb, jsonb, jsonb, jsonb) from public, anon, service_role;
grant execute on function public.publish_prekeys(jsonb, jsonb, jsonb, jsonb) to authenticated;

create function public.prekey_counts()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  caller_profile text;
begin
  if caller is null then
    raise exception 'reading prekey counts requires a signed-in user'
      using errcode = 'insufficient_privilege';
  end if;

  select p.profile into caller_profile
  from public.chat_participants p
  where p.owner_id = caller;

  if caller_profile is null then
    raise exception 'the calling user has no profile'
      using errcode = 'P0002',
            hint = 'Claim one by inserting {"profile": ..., "payload": <identity>} into chat_participants.';
  end if;

  return private.prekey_counts_of(caller_profile);
end;
$$;
comment on function public.prekey_counts() is
  'Returns the caller''s remaining keys: {"oneTimePrekeys": n, "kemPrekeys": n, "signedPrekeyId": id or null, "lastResortKemPrekeyId": id or null}, so the client knows when to upload more.';
revoke all on function public.prekey_counts() from public, anon, service_role;
grant execute on function public.prekey_counts() to authenticated;

create function public.reset_identity(identity jsonb)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  participant public.chat_participants;
  problem text := private.identity_payload_error(reset_identity.identity);
begin
  if reset_identity.identity is null then
    problem := 'the identity payload is missing';
  end if;
  if problem is not null then
    raise exception '%', problem
      using errcode = 'invalid_parameter_value',
            hint = 'Pass {"v":1,"identityKey":"<base64url Ed25519 public key>"}.';
  end if;

  participant := private.lock_caller_profile();

  update public.chat_participants p
  set payload = reset_identity.identity
  where p.id = participant.id;

  delete from public.chat_prekeys k
  where k.profile = participant.profile;
end;
$$;
comment on function public.reset_identity(jsonb) is
  'Replaces the caller''s identity payload and deletes all of the profile''s prekeys, which were signed by the old identity key. Raises 22023 for a malformed identity and P0002 without a profile.';
revoke all on function public.reset_identity(jsonb) from public, anon, service_role;
grant execute on function public.reset_identity(jsonb) to authenticated;
