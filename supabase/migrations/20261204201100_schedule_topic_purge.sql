-- Schedules purge_stale_topics every minute with pg_cron, under the job name
-- parley-purge-stale-topics.
--
-- Supabase always provides pg_cron. Where the server cannot load it (the
-- embedded PostgreSQL of the local stack, or a server without pg_cron in
-- shared_preload_libraries), this migration still succeeds, raises a notice
-- and schedules nothing; the local stack then runs the function itself.

do $$
begin
  begin
    create extension if not exists pg_cron;
  exception
    when others then
      raise notice 'pg_cron is not available (%), so purge_stale_topics() is not scheduled: run it every minute from another scheduler', sqlerrm;
      return;
  end;

  -- cron.schedule with a job name replaces an existing job of that name.
  perform cron.schedule('parley-purge-stale-topics', '* * * * *', 'select public.purge_stale_topics()');
end
$$;
