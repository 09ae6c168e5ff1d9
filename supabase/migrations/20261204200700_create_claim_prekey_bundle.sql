-- Creates claim_prekey_bundle: hands out a target profile's prekey bundle for
-- a new PQXDH session, deleting the one-time keys it hands out.
--
-- Each one-time key goes to at most one caller, also under concurrent
-- claims: a single `delete ... returning` removes the row that a
-- `for update skip locked` subquery picked, so two callers never pick the
-- same row and neither waits for the other. Calls are rate limited per caller
-- and target (claim_rate_limit_max per claim_rate_limit_window).

create function private.take_one_time_prekey(profile text, kind public.prekey_kind)
returns jsonb
language sql
volatile
security definer
set search_path = ''
as $$
  delete from public.chat_prekeys k
  where k.id = (
    select c.id
    from public.chat_prekeys c
    where c.profile = take_one_time_prekey.profile
      and c.kind = take_one_time_prekey.kind
    order by c.key_id
    limit 1
    for update skip locked
  )
  returning jsonb_strip_nulls(jsonb_build_object('keyId', k.key_id, 'publicKey', k.public_key, 'signature', k.signature))
$$;
comment on function private.take_one_time_prekey(text, public.prekey_kind) is 'Deletes and returns one one-time prekey of a profile and kind as {keyId, publicKey[, signature]}, skipping keys other transactions are taking; null when none is left.';
revoke all on function private.take_one_time_prekey(text, public.prekey_kind) from public;

create function public.claim_prekey_bundle(target_profile text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  claim_max bigint := private.integer_setting('claim_rate_limit_max');
  claim_window interval := private.interval_setting('claim_rate_limit_window');
  problem text := private.profile_name_error(claim_prekey_bundle.target_profile);
  identity jsonb;
  signed_prekey jsonb;
  one_time_prekey jsonb;
  kem_prekey jsonb;
  last_resort boolean := false;
begin
  if caller is null then
    raise exception 'claiming a prekey bundle requires a signed-in user'
      using errcode = 'insufficient_privilege';
  end if;

  if problem is not null then
    raise exception '%', problem using errcode = 'invalid_parameter_value';
  end if;

  if not private.consume_rate_limit('prekey_claim', caller::text, claim_prekey_bundle.target_profile, claim_max, claim_window) then
    raise exception 'more than % prekey bundle claims for profile % within %',
        claim_max, to_jsonb(claim_prekey_bundle.target_profile)::text, claim_window
      using errcode = 'PT429',
            hint = format('retry after %s seconds', private.rate_limit_retry_seconds(claim_window));
  end if;

  select p.payload into identity
  from public.chat_participants p
  where p.profile = claim_prekey_bundle.target_profile;

  if identity is null then
    raise exception 'profile % not found or without an identity', to_jsonb(claim_prekey_bundle.target_profile)::text
      using errcode = 'P0002';
  end if;

  select jsonb_build_object('keyId', k.key_id, 'publicKey', k.public_key, 'signature', k.signature)
  into signed_prekey
  from public.chat_prekeys k
  where k.profile = claim_prekey_bundle.target_profile
    and k.kind = 'signed_ec';

  if signed_prekey is null then
    raise exception 'profile % has not published a signed prekey', to_jsonb(claim_prekey_bundle.target_profile)::text
      using errcode = 'P0002';
  end if;

  kem_prekey := private.take_one_time_prekey(claim_prekey_bundle.target_profile, 'one_time_kem');
  if kem_prekey is null then
    select jsonb_build_object('keyId', k.key_id, 'publicKey', k.public_key, 'signature', k.signature)
    into kem_prekey
    from public.chat_prekeys k
    where k.profile = claim_prekey_bundle.target_profile
      and k.kind = 'last_resort_kem';
    last_resort := true;
  end if;

  if kem_prekey is null then
    raise exception 'profile % has no KEM prekey left and no last-resort KEM prekey', to_jsonb(claim_prekey_bundle.target_profile)::text
      using errcode = 'P0002';
  end if;

  one_time_prekey := private.take_one_time_prekey(claim_prekey_bundle.target_profile, 'one_time_ec');

  return jsonb_build_object(
    'profile', claim_prekey_bundle.target_profile,
    'identity', identity,
    'signedPrekey', signed_prekey,
    'oneTimePrekey', coalesce(one_time_prekey, 'null'::jsonb),
    'kemPrekey', kem_prekey || jsonb_build_object('lastResort', last_resort)
  );
end;
$$;
comment on function public.claim_prekey_bundle(text) is
  'Returns the prekey bundle of target_profile (identity, signed EC prekey, one one-time EC prekey or null, one one-time KEM prekey or the last-resort KEM prekey) and deletes the one-time keys it returns. Raises P0002 for an unknown profile or one without keys, PT429 over claim_rate_limit_max per claim_rate_limit_window, 22023 for a malformed name.';
revoke all on function public.claim_prekey_bundle(text) from public, anon, service_role;
grant execute on function public.claim_prekey_bundle(text) to authenticated;
