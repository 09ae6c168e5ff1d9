-- Creates the `private` schema and the settings table that holds every limit
-- the database enforces, each with its default and a description.
--
-- The REST API serves only `public`, so nothing in `private` is reachable
-- over HTTP. Operators change a limit with an update, for example:
--   update private.settings set integer_value = 20000 where name = 'inbox_max_pending_topics';

create schema if not exists private;
comment on schema private is 'Parley internals: settings, rate limit counters and helper functions. Not served over the REST API.';

revoke all on schema private from public;
-- Invoker functions and constraints called by these roles read settings and
-- run validators here; every function in this schema grants EXECUTE itself.
grant usage on schema private to authenticated, service_role;

create table private.settings (
  name text not null,
  integer_value bigint,
  interval_value interval,
  description text not null,
  constraint settings_pkey primary key (name),
  constraint settings_one_value_check check (num_nonnulls(integer_value, interval_value) = 1),
  constraint settings_integer_value_check check (integer_value is null or integer_value > 0),
  constraint settings_interval_value_check check (interval_value is null or interval_value > interval '0')
);
comment on table private.settings is 'Limits enforced by the Parley database: one row per setting, with an integer or an interval value.';

alter table private.settings enable row level security;

insert into private.settings (name, integer_value, interval_value, description) values
  ('topic_payload_max_bytes', 65536, null,
   'Maximum size of chat_topics.payload in bytes, measured on its JSON text.'),
  ('inbox_max_pending_topics', 10000, null,
   'Maximum topics waiting in one recipient''s inbox; further sends are rejected until the recipient acknowledges some.'),
  ('topic_rate_limit_max', 60, null,
   'Maximum topics one profile sends to one recipient per topic_rate_limit_window.'),
  ('topic_rate_limit_window', null, interval '1 second',
   'Window of the per-sender, per-recipient topic rate limit.'),
  ('prekey_upload_max_per_kind', 100, null,
   'Maximum keys of one kind in one publish_prekeys call.'),
  ('prekey_stored_max_per_kind', 1000, null,
   'Maximum one-time EC prekeys, and separately one-time KEM prekeys, stored per profile.'),
  ('claim_rate_limit_max', 6, null,
   'Maximum prekey bundle claims by one user for one target profile per claim_rate_limit_window.'),
  ('claim_rate_limit_window', null, interval '10 minutes',
   'Window of the per-caller, per-target prekey bundle claim rate limit.'),
  ('acknowledge_max_ids', 1000, null,
   'Maximum topic ids in one acknowledge_topics call.'),
  ('topic_retention', null, interval '30 days',
   'Age after which purge_stale_topics deletes a topic nobody acknowledged.'),
  ('purge_batch_size', 5000, null,
   'Maximum topics, and separately expired rate limit counters, deleted by one purge_stale_topics call.')
on conflict (name) do nothing;

create function private.integer_setting(setting_name text)
returns bigint
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  setting_value bigint;
begin
  select s.integer_value into setting_value
  from private.settings s
  where s.name = integer_setting.setting_name;

  if setting_value is null then
    raise exception 'integer setting "%" is missing from private.settings', integer_setting.setting_name
      using errcode = 'P0002',
            hint = 'Insert it again with its documented default (docs/database.md).';
  end if;

  return setting_value;
end;
$$;
comment on function private.integer_setting(text) is 'Returns the integer value of a setting from private.settings; raises P0002 when it is missing.';

create function private.interval_setting(setting_name text)
returns interval
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  setting_value interval;
begin
  select s.interval_value into setting_value
  from private.settings s
  where s.name = interval_setting.setting_name;

  if setting_value is null then
    raise exception 'interval setting "%" is missing from private.settings', interval_setting.setting_name
      using errcode = 'P0002',
            hint = 'Insert it again with its documented default (docs/database.md).';
  end if;

  return setting_value;
end;
$$;
comment on function private.interval_setting(text) is 'Returns the interval value of a setting from private.settings; raises P0002 when it is missing.';

revoke all on function private.integer_setting(text) from public;
revoke all on function private.interval_setting(text) from public;
grant execute on function private.integer_setting(text) to authenticated, service_role;
grant execute on function private.interval_setting(text) to authenticated, service_role;
