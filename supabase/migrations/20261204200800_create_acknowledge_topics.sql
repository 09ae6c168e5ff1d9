-- Creates acknowledge_topics: the recipient deletes topics it has processed.
--
-- It runs with the caller's rights, so the delete policy on chat_topics
-- decides which ids it removes: ids that are unknown, already acknowledged or
-- addressed to another profile delete nothing and raise no error.

create function public.acknowledge_topics(topic_ids bigint[])
returns bigint[]
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  max_ids bigint := private.integer_setting('acknowledge_max_ids');
  id_count integer := coalesce(cardinality(acknowledge_topics.topic_ids), 0);
  deleted bigint[];
begin
  if id_count = 0 or id_count > max_ids then
    raise exception 'acknowledge_topics takes 1 to % topic ids, got %', max_ids, id_count
      using errcode = 'invalid_parameter_value',
            hint = 'Split larger acknowledgements into several calls.';
  end if;

  with removed as (
    delete from public.chat_topics t
    where t.id = any (acknowledge_topics.topic_ids)
    returning t.id
  )
  select coalesce(array_agg(removed.id order by removed.id), '{}') into deleted
  from removed;

  return deleted;
end;
$$;
comment on function public.acknowledge_topics(bigint[]) is
  'Deletes those of the given topics (1 to acknowledge_max_ids ids) that are addressed to the caller''s profile and returns their ids in ascending order. Other ids delete nothing and raise no error.';
revoke all on function public.acknowledge_topics(bigint[]) from public, anon, service_role;
grant execute on function public.acknowledge_topics(bigint[]) to authenticated;
