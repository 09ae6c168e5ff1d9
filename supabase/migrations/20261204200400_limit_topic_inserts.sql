-- Enforces the limits on sending topics: the payload's format and size, the
-- rate per sender and recipient, and the number of topics waiting in one
-- inbox. Each limit is a row of private.settings.
--
-- Errors: check_violation (23514) for a malformed payload, PT413 for an
-- oversized one, PT429 for the rate limit and for a full inbox. Over REST,
-- PostgREST answers PTnnn with HTTP status nnn.

create function private.enforce_topic_limits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  payload_bytes integer;
  payload_max bigint := private.integer_setting('topic_payload_max_bytes');
  rate_max bigint := private.integer_setting('topic_rate_limit_max');
  rate_window interval := private.interval_setting('topic_rate_limit_window');
  inbox_max bigint := private.integer_setting('inbox_max_pending_topics');
  pending bigint;
begin
  if new.payload is null or jsonb_typeof(new.payload) <> 'object' then
    raise exception 'the topic payload must be a JSON object'
      using errcode = 'check_violation', constraint = 'chat_topics_payload_check',
            table = 'chat_topics', schema = 'public',
            hint = 'Send {"v":1,"type":"prekey"|"message",...}.';
  end if;

  if new.payload -> 'v' is distinct from '1'::jsonb
     or new.payload ->> 'type' is null
     or new.payload ->> 'type' not in ('prekey', 'message') then
    raise exception 'the topic payload must have "v": 1 and "type": "prekey" or "message"'
      using errcode = 'check_violation', constraint = 'chat_topics_payload_check',
            table = 'chat_topics', schema = 'public';
  end if;

  payload_bytes := octet_length(new.payload::text);
  if payload_bytes > payload_max then
    raise exception 'the topic payload has % bytes, more than the maximum of % bytes', payload_bytes, payload_max
      using errcode = 'PT413',
            hint = 'Split the content over several topics.';
  end if;

  if not private.consume_rate_limit('topic_send', new.from_profile, new.to_profile, rate_max, rate_window) then
    raise exception 'profile % sent more than % topics to profile % within %',
        to_jsonb(new.from_profile)::text, rate_max, to_jsonb(new.to_profile)::text, rate_window
      using errcode = 'PT429',
            hint = format('retry after %s seconds', private.rate_limit_retry_seconds(rate_window));
  end if;

  -- NOTE: concurrent sends to the same inbox each see the count before the
  -- others commit, so the inbox can exceed the maximum by the number of
  -- concurrent senders.
  select count(*) into pending
  from (
    select 1
    from public.chat_topics t
    where t.to_profile = new.to_profile
    limit inbox_max
  ) pending_topics;

  if pending >= inbox_max then
    raise exception 'the inbox of profile % is full: % topics are waiting', to_jsonb(new.to_profile)::text, pending
      using errcode = 'PT429',
            hint = 'retry after the recipient acknowledges topics';
  end if;

  return new;
end;
$$;
comment on function private.enforce_topic_limits() is
  'Trigger: rejects a topic whose payload is malformed or larger than topic_payload_max_bytes, a sender over topic_rate_limit_max per topic_rate_limit_window for one recipient, and a send to an inbox holding inbox_max_pending_topics.';
revoke all on function private.enforce_topic_limits() from public;

create trigger chat_topics_enforce_limits
  before insert on public.chat_topics
  for each row execute function private.enforce_topic_limits();
