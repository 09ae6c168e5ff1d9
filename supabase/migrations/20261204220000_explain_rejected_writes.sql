-- Explains the writes that the unique and foreign key constraints reject,
-- and rejects identity keys that are not usable Ed25519 public keys.
--
-- Before-insert triggers look for the conflict the constraint would raise
-- and raise the same error with a message that names the value and the fix:
-- the same SQLSTATE (23505 or 23503), the same constraint, table and schema,
-- and the constraint's own wording at the end of the message, because the
-- client SDK classifies claim conflicts by the text `unique constraint
-- "<name>"`. The constraints stay the final guard: two concurrent inserts
-- can both pass a trigger, and the second one then fails on the constraint
-- with PostgreSQL's own message.
--
-- NOTE: a before-insert trigger cannot see an ON CONFLICT clause, so
-- `insert ... on conflict do nothing` into chat_participants with a claimed
-- name or a second profile now raises 23505 where it used to skip the row.

-- The previous version plus a check of the key's value. The check
-- constraint chat_participants_payload_check, the trigger
-- chat_participants_validate and reset_identity all call this function, so
-- all of them apply the rule. Rows stored before this migration are not
-- checked again.
--
-- The value check recognises the unusable keys that cost a byte comparison:
-- the small-order points (the all-zero key among them), which no key pair
-- has and strict verifiers reject, and the non-canonical encodings of a
-- y-coordinate of at least p = 2^255 - 19. A key that fails point
-- decompression passes, and clients reject it when they verify signatures.
create or replace function private.identity_payload_error(identity jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  encoded text;
  y bytea;
begin
  if identity_payload_error.identity is null then
    return null;
  end if;

  if jsonb_typeof(identity_payload_error.identity) <> 'object' then
    return 'the identity payload must be a JSON object';
  end if;

  if (select array_agg(k order by k) from jsonb_object_keys(identity_payload_error.identity) k) <> array['identityKey', 'v'] then
    return 'the identity payload must have exactly the fields "v" and "identityKey"';
  end if;

  if identity_payload_error.identity -> 'v' <> '1'::jsonb then
    return 'the identity payload field "v" must be the number 1';
  end if;

  if jsonb_typeof(identity_payload_error.identity -> 'identityKey') <> 'string'
     or not private.is_base64url(identity_payload_error.identity ->> 'identityKey', 32) then
    return 'the identity payload field "identityKey" must be a 32-byte Ed25519 public key in unpadded base64url (43 characters)';
  end if;

  -- The key is little-endian y with the sign of x in the top bit.
  encoded := identity_payload_error.identity ->> 'identityKey';
  y := decode(translate(encoded, '-_', '+/') || '=', 'base64');
  y := set_byte(y, 31, get_byte(y, 31) & 127);

  if y = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea then
    return format(
      'the identity payload field "identityKey" is the all-zero key %s, a small-order point that no Ed25519 key pair has',
      to_jsonb(encoded)::text
    );
  end if;

  -- The other small-order points: y = 1 (order 1), y = p - 1 (order 2) and
  -- the two y-coordinates of the points of order 8.
  if y in (
    '\x0100000000000000000000000000000000000000000000000000000000000000'::bytea,
    '\xecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'::bytea,
    '\xc7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'::bytea,
    '\x26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'::bytea
  ) then
    return format(
      'the identity payload field "identityKey" is %s, a small-order point that no Ed25519 key pair has',
      to_jsonb(encoded)::text
    );
  end if;

  if get_byte(y, 0) >= 237
     and substring(y from 2 for 30) = decode(repeat('ff', 30), 'hex')
     and get_byte(y, 31) = 127 then
    return format(
      'the identity payload field "identityKey" is %s, a non-canonical Ed25519 encoding whose y-coordinate is at least 2^255 - 19',
      to_jsonb(encoded)::text
    );
  end if;

  return null;
end;
$$;
comment on function private.identity_payload_error(jsonb) is
  'Returns why a value is not a valid identity payload {"v":1,"identityKey":<43 base64url characters>}, or null when it is valid (null is valid too). Rejects small-order and non-canonical Ed25519 keys.';

-- Profile claims. Every signed-in user can read every profile with its
-- owner, so naming whether the caller or another user owns a name reveals
-- nothing new. Checks run in the order PostgreSQL checks the unique indexes
-- (profile name, then owner), so each case keeps the constraint it had.
create function private.explain_chat_participant_conflict()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  name_owner uuid;
  owned_profile text;
begin
  select p.owner_id into name_owner
  from public.chat_participants p
  where p.profile = new.profile;

  if found and name_owner is not distinct from new.owner_id then
    raise exception 'the user already owns profile %, so there is nothing to claim (duplicate key value violates unique constraint "chat_participants_profile_key")',
        to_jsonb(new.profile)::text
      using errcode = 'unique_violation',
            constraint = 'chat_participants_profile_key',
            table = 'chat_participants',
            schema = 'public',
            hint = 'Use the profile as it is, or call reset_identity to publish a new identity key.';
  end if;

  if found then
    raise exception 'the profile name % belongs to another user, so choose another name (duplicate key value violates unique constraint "chat_participants_profile_key")',
        to_jsonb(new.profile)::text
      using errcode = 'unique_violation',
            constraint = 'chat_participants_profile_key',
            table = 'chat_participants',
            schema = 'public',
            hint = 'Choose another profile name.';
  end if;

  select p.profile into owned_profile
  from public.chat_participants p
  where p.owner_id = new.owner_id;

  if found then
    raise exception 'the user already owns profile % and can own only one, so it cannot claim % (duplicate key value violates unique constraint "chat_participants_owner_id_key")',
        to_jsonb(owned_profile)::text, to_jsonb(new.profile)::text
      using errcode = 'unique_violation',
            constraint = 'chat_participants_owner_id_key',
            table = 'chat_participants',
            schema = 'public',
            hint = format('Keep using %s, or sign in as another user to claim %s.', to_jsonb(owned_profile)::text, to_jsonb(new.profile)::text);
  end if;

  return new;
end;
$$;
comment on function private.explain_chat_participant_conflict() is
  'Trigger: raises 23505 on chat_participants_profile_key or chat_participants_owner_id_key with a message naming the profile and the fix, before the unique index would raise it.';
revoke all on function private.explain_chat_participant_conflict() from public;

-- Fires after chat_participants_validate (triggers fire in name order), so a
-- malformed name is reported as malformed first.
create trigger chat_participants_validate_uniqueness
  before insert on public.chat_participants
  for each row execute function private.explain_chat_participant_conflict();

-- Topic sends. The function runs with the caller's rights, and signed-in
-- users can read every profile name, so it reveals only what the foreign
-- keys reveal. Under row level security a row whose sender is not the
-- caller's profile passes through unchanged, so the insert policy still
-- rejects a spoofed or unknown sender with 42501 as before; only roles that
-- bypass row level security (service_role) reach the sender check.
create function private.explain_chat_topic_references()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- A missing or uppercase name fails its not-null or check constraint.
  if new.from_profile is null or new.to_profile is null
     or new.from_profile <> lower(new.from_profile) or new.to_profile <> lower(new.to_profile) then
    return new;
  end if;

  if row_security_active('public.chat_topics')
     and new.from_profile is distinct from (
       select p.profile from public.chat_participants p where p.owner_id = (select auth.uid())
     ) then
    return new;
  end if;

  if not exists (select 1 from public.chat_participants p where p.profile = new.from_profile) then
    raise exception 'the sender profile % does not exist, so claim it in chat_participants before sending (insert or update on table "chat_topics" violates foreign key constraint "chat_topics_from_profile_fkey")',
        to_jsonb(new.from_profile)::text
      using errcode = 'foreign_key_violation',
            constraint = 'chat_topics_from_profile_fkey',
            table = 'chat_topics',
            schema = 'public',
            hint = 'Send from an existing profile.';
  end if;

  if not exists (select 1 from public.chat_participants p where p.profile = new.to_profile) then
    raise exception 'the recipient profile % does not exist, so check the name (insert or update on table "chat_topics" violates foreign key constraint "chat_topics_to_profile_fkey")',
        to_jsonb(new.to_profile)::text
      using errcode = 'foreign_key_violation',
            constraint = 'chat_topics_to_profile_fkey',
            table = 'chat_topics',
            schema = 'public',
            hint = 'Send to a profile that has been claimed in chat_participants.';
  end if;

  return new;
end;
$$;
comment on function private.explain_chat_topic_references() is
  'Trigger: raises 23503 on chat_topics_from_profile_fkey or chat_topics_to_profile_fkey with a message naming the unknown profile, before the foreign key would raise it.';
revoke all on function private.explain_chat_topic_references() from public;

-- Fires after chat_topics_enforce_limits (triggers fire in name order), so
-- a malformed or oversized payload is reported first, as before. The rate
-- limit counted for a rejected send is rolled back with the statement.
create trigger chat_topics_explain_references
  before insert on public.chat_topics
  for each row execute function private.explain_chat_topic_references();
