-- Creates purge_stale_topics: deletes topics nobody acknowledged within the
-- retention period (topic_retention), and rate limit counters whose window
-- has ended.
--
-- One call deletes at most purge_batch_size topics and purge_batch_size
-- counters in one short transaction, skipping rows other transactions have
-- locked, so it never holds many locks for long. It runs with its owner's
-- rights, because the rate limit counters are private. The scheduler (pg_cron, or
-- the local stack) calls it every minute; a caller catching up on a backlog
-- calls it again while it returns purge_batch_size.

create function public.purge_stale_topics()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz := now() - private.interval_setting('topic_retention');
  batch_size bigint := private.integer_setting('purge_batch_size');
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
    limit batch_size
    for update skip locked
  )
  delete from private.rate_limit_counters c
  using ended
  where c.ctid = ended.ctid;

  return deleted_topics;
end;
$$;
comment on function public.purge_stale_topics() is
  'Deletes up to purge_batch_size topics older than topic_retention, and up to purge_batch_size ended rate limit counters; returns the number of topics deleted.';
revoke all on function public.purge_stale_topics() from public, anon, authenticated;
grant execute on function public.purge_stale_topics() to service_role;
