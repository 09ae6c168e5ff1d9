-- purge_stale_topics deletes topics older than the retention period in
-- bounded batches and keeps younger ones; pg_cron runs it every minute.
begin;
\ir _helpers.psql
select plan(18);

select tests.create_profile('alice');
select tests.create_profile('bob');

insert into public.chat_topics (from_profile, to_profile, payload, created_at)
select 'alice', 'bob', jsonb_build_object('v', 1, 'type', 'message', 'age', age), now() - age
from (values (interval '31 days'), (interval '30 days 1 second'), (interval '60 days'),
             (interval '29 days 23 hours'), (interval '1 day'), (interval '0')) ages(age);

select is(public.purge_stale_topics(), 3::bigint, 'the purge deletes the three topics older than 30 days');
select bag_eq($$ select (payload ->> 'age')::interval from public.chat_topics $$,
  array[interval '29 days 23 hours', interval '1 day', interval '0'], 'the purge keeps topics younger than the retention period');
select is(public.purge_stale_topics(), 0::bigint, 'a second purge finds nothing to delete');

update private.settings set interval_value = interval '12 hours' where name = 'topic_retention';
select is(public.purge_stale_topics(), 2::bigint, 'the retention period follows its setting');
update private.settings set interval_value = interval '30 days' where name = 'topic_retention';

-- Batches.
update private.settings set integer_value = 2 where name = 'purge_batch_size';
insert into public.chat_topics (from_profile, to_profile, payload, created_at)
select 'alice', 'bob', '{"v":1,"type":"message"}', now() - interval '40 days' from generate_series(1, 5);
select is(public.purge_stale_topics(), 2::bigint, 'one purge deletes at most purge_batch_size topics');
select is(public.purge_stale_topics(), 2::bigint, 'the next purge deletes the next batch');
select is(public.purge_stale_topics(), 1::bigint, 'the last batch deletes the rest');
select is((select count(*)::int from public.chat_topics), 1, 'only the young topic is left');

-- Rate limit counters whose window has ended go too.
insert into private.rate_limit_counters (bucket, subject, target, window_start, window_end, hits)
values ('test', 'zed', 'ended', now() - interval '2 seconds', now() - interval '1 second', 3),
       ('test', 'zed', 'current', now() - interval '1 second', now() + interval '1 minute', 3);
select is(public.purge_stale_topics(), 0::bigint, 'the purge counts only topics');
select results_eq($$ select target from private.rate_limit_counters where subject = 'zed' $$, $$ values ('current'::text) $$,
  'the purge deletes ended rate limit windows and keeps current ones');
update private.settings set integer_value = 1 where name = 'rate_limit_purge_batch_size';
insert into private.rate_limit_counters (bucket, subject, target, window_start, window_end, hits)
select 'test', 'zed', 'ended-' || i, now() - interval '2 seconds', now() - interval '1 second', 1 from generate_series(1, 2) i;
select public.purge_stale_topics();
select is((select count(*)::int from private.rate_limit_counters where target like 'ended-%'), 1,
  'one purge deletes at most rate_limit_purge_batch_size ended windows');

-- Who may run it.
select tests.authenticate_as('bob');
select throws_ok($$ select public.purge_stale_topics() $$, '42501', 'permission denied for function purge_stale_topics',
  'signed-in users cannot run the purge');
select tests.authenticate_as_anon();
select throws_ok($$ select public.purge_stale_topics() $$, '42501', 'permission denied for function purge_stale_topics',
  'anonymous callers cannot run the purge');
select tests.authenticate_as_service_role();
select lives_ok($$ select public.purge_stale_topics() $$, 'the service role runs the purge');
select tests.clear_authentication();

-- The schedule, where the server has pg_cron.
create function tests.cron_job(job_name text) returns table (schedule text, command text, active boolean)
language plpgsql
as $$
begin
  return query execute 'select schedule, command, active from cron.job where jobname = $1' using job_name;
end;
$$;

select case
  when exists (select from pg_extension where extname = 'pg_cron') then
    collect_tap(
      is((select count(*)::int from tests.cron_job('parley-purge-stale-topics')), 1, 'the purge has one pg_cron job named parley-purge-stale-topics'),
      is((select schedule from tests.cron_job('parley-purge-stale-topics')), '* * * * *', 'pg_cron runs the purge every minute'),
      is((select command from tests.cron_job('parley-purge-stale-topics')), 'select public.purge_stale_topics()', 'the pg_cron job calls purge_stale_topics'),
      ok((select active from tests.cron_job('parley-purge-stale-topics')), 'the pg_cron job is active')
    )
  else skip('pg_cron is not installed on this server, so the purge is not scheduled here', 4)
end;

select * from finish();
rollback;
