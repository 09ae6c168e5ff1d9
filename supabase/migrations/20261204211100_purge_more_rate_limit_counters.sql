-- Lets purge_stale_topics delete ended rate limit windows in larger batches
-- than topics, with their own setting.
--
-- Every sender and recipient pair that is active in a second leaves one
-- topic rate limit row behind. At one purge per minute, a batch of
-- purge_batch_size (5,000) rows would fall behind once more than about 83
-- pairs are active each second. Counter rows are small and nothing else locks
-- ended windows, so a batch of 100,000 stays short.

insert into private.settings (name, integer_value, interval_value, description) values
  ('rate_limit_purge_batch_size', 100000, null,
   'Maximum ended rate limit windows deleted by one purge_stale_topics call.')
on conflict (name) do nothing;

update private.settings
set description = 'Maximum topics deleted by one purge_stale_topics call.'
where name = 'purge_batch_size';

create or replace function public.purge_stale_topics()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz := now() - private.interval_setting('topic_retention');
  batch_size bigint := private.integer_setting('purge_batch_size');
  counter_batch_size bigint := private.integer_setting('rate_limit_purge_batch_size');
  deleted_topics bigint;
begin
  with stale as (
    select t.id
    from public.chat_topics t
    where t.created_at < cutoff
    order by t.created_at
    limit batch_size
    for update skip locked
  )
  delete from public.chat_topics t
  using stale
  where t.id = stale.id;
  get diagnostics deleted_topics = row_count;

  with ended as (
    select c.ctid
    from private.rate_limit_counters c
    where c.window_end < now()
    limit counter_batch_size
    for update skip locked
  )
  delete from private.rate_limit_counters c
  using ended
  where c.ctid = ended.ctid;

  return deleted_topics;
end;
$$;
comment on function public.purge_stale_topics() is
  'Deletes up to purge_batch_size topics older than topic_retention, and up to rate_limit_purge_batch_size ended rate limit windows; returns the number of topics deleted.';
