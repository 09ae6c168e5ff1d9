-- Creates the fixed-window counters behind the topic send and prekey claim
-- rate limits, and the function that counts one request against them.
--
-- A window starts at a multiple of its length since 2000-01-01 UTC. Fixed
-- windows are cheap (one upsert per request) but allow up to twice the
-- maximum within one window length when a burst straddles a boundary.

create table private.rate_limit_counters (
  bucket text not null,
  subject text not null,
  target text not null,
  window_start timestamptz not null,
  window_end timestamptz not null,
  hits integer not null,
  constraint rate_limit_counters_pkey primary key (bucket, subject, target, window_start)
);
comment on table private.rate_limit_counters is 'Requests per rate limit bucket, subject (who acts), target and fixed time window; purge_stale_topics deletes ended windows.';

create index rate_limit_counters_window_end_idx on private.rate_limit_counters (window_end);

alter table private.rate_limit_counters enable row level security;

create function private.consume_rate_limit(bucket text, subject text, target text, max_hits bigint, window_length interval)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  current_start timestamptz := date_bin(consume_rate_limit.window_length, now(), timestamptz '2000-01-01 00:00:00+00');
  current_hits integer;
begin
  insert into private.rate_limit_counters as c (bucket, subject, target, window_start, window_end, hits)
  values (
    consume_rate_limit.bucket,
    consume_rate_limit.subject,
    consume_rate_limit.target,
    current_start,
    current_start + consume_rate_limit.window_length,
    1
  )
  on conflict on constraint rate_limit_counters_pkey
  do update set hits = c.hits + 1
  returning c.hits into current_hits;

  return current_hits <= consume_rate_limit.max_hits;
end;
$$;
comment on function private.consume_rate_limit(text, text, text, bigint, interval) is
  'Counts one request by subject against target in the current window of bucket; returns false when the window already had max_hits requests. A rejected request rolls back with its transaction, so it is not counted.';

create function private.rate_limit_retry_seconds(window_length interval)
returns integer
language sql
stable
set search_path = ''
as $$
  select greatest(1, ceil(extract(epoch from (
    date_bin(rate_limit_retry_seconds.window_length, now(), timestamptz '2000-01-01 00:00:00+00')
    + rate_limit_retry_seconds.window_length - now()
  )))::integer)
$$;
comment on function private.rate_limit_retry_seconds(interval) is 'Returns the whole seconds until the current fixed window of the given length ends, at least 1.';

revoke all on function private.consume_rate_limit(text, text, text, bigint, interval) from public;
revoke all on function private.rate_limit_retry_seconds(interval) from public;
