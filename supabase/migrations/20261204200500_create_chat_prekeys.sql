-- Creates chat_prekeys: the public prekeys each profile publishes so others
-- can start a PQXDH session with it while it is offline.
--
-- Kinds: the current signed EC prekey (X25519, one per profile), one-time EC
-- prekeys (X25519), signed one-time KEM prekeys (ML-KEM-1024) and the signed
-- last-resort KEM prekey (one per profile). Key ids come from the client and
-- are unique per profile and kind. Clients have no direct access: they
-- publish with publish_prekeys and claim with claim_prekey_bundle.

create type public.prekey_kind as enum ('signed_ec', 'one_time_ec', 'one_time_kem', 'last_resort_kem');
comment on type public.prekey_kind is 'Kind of a Parley prekey: signed_ec and one_time_ec are X25519 keys, one_time_kem and last_resort_kem are ML-KEM-1024 encapsulation keys.';

create table public.chat_prekeys (
  id bigint generated always as identity,
  created_at timestamp with time zone not null default now(),
  profile text not null,
  kind public.prekey_kind not null,
  key_id integer not null,
  public_key text not null,
  signature text null,
  constraint chat_prekeys_pkey primary key (id),
  constraint chat_prekeys_profile_fkey foreign key (profile)
    references public.chat_participants (profile) on delete cascade,
  constraint chat_prekeys_profile_kind_key_id_key unique (profile, kind, key_id),
  constraint chat_prekeys_key_id_check check (key_id >= 1),
  constraint chat_prekeys_public_key_check check (
    private.is_base64url(public_key, case when kind in ('signed_ec', 'one_time_ec') then 32 else 1568 end)
  ),
  constraint chat_prekeys_signature_check check (
    case
      when kind = 'one_time_ec' then signature is null
      else private.is_base64url(signature, 64)
    end
  )
);

comment on table public.chat_prekeys is 'Parley prekeys per profile and kind. One-time keys are deleted as they are claimed; the signed EC prekey and the last-resort KEM prekey are replaced on rotation.';
comment on column public.chat_prekeys.key_id is 'Key id chosen by the client, 1 to 2147483647, unique per profile and kind.';
comment on column public.chat_prekeys.public_key is 'Unpadded base64url public key: 32 bytes (43 characters) for X25519, 1568 bytes (2091 characters) for ML-KEM-1024.';
comment on column public.chat_prekeys.signature is 'Unpadded base64url Ed25519 signature (86 characters) by the identity key over the type byte and the public key; null for one-time EC prekeys.';

-- At most one current signed EC prekey and one last-resort KEM prekey per profile.
create unique index chat_prekeys_one_current_key_idx
  on public.chat_prekeys (profile, kind)
  where kind in ('signed_ec', 'last_resort_kem');

alter table public.chat_prekeys enable row level security;

-- No policies: the API roles have no privileges here, and the functions that
-- read or write prekeys run with their owner's rights.
revoke all on table public.chat_prekeys from anon, authenticated;
