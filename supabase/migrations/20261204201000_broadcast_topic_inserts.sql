-- Announces each new topic to its recipient over Supabase Realtime.
--
-- After an insert into chat_topics, a trigger sends a broadcast with event
-- `topic` on the private channel `inbox:<to_profile>` carrying only the topic
-- id, the sender and the time; the recipient then fetches the payload over
-- REST. realtime.send keeps what it sends in realtime.messages for days, so
-- sending the payload itself would leave a copy behind after the
-- acknowledgement deleted the topic.
--
-- The policies below let only the owner of a profile join its inbox channel,
-- and no client send on any inbox channel.

create function private.broadcast_topic_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object('id', new.id, 'from_profile', new.from_profile, 'created_at', new.created_at),
    'topic',
    'inbox:' || new.to_profile,
    true
  );
  return null;
end;
$$;
comment on function private.broadcast_topic_insert() is
  'Trigger: broadcasts {id, from_profile, created_at} of a new topic as event "topic" on the private Realtime channel inbox:<to_profile>. Never sends the payload.';
revoke all on function private.broadcast_topic_insert() from public;

create trigger chat_topics_broadcast_insert
  after insert on public.chat_topics
  for each row execute function private.broadcast_topic_insert();

-- Realtime evaluates these policies with realtime.topic() set to the channel
-- a client joins (select) or sends on (insert).
create policy "Profile owners can receive their inbox notifications"
  on realtime.messages
  for select
  to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and (select realtime.topic()) = 'inbox:' || (
      select p.profile from public.chat_participants p where p.owner_id = (select auth.uid())
    )
  );

-- Restrictive, so a permissive policy another feature adds for its own
-- channels cannot open inbox channels to other users.
create policy "Only profile owners can join inbox channels"
  on realtime.messages
  as restrictive
  for select
  to authenticated
  using (
    not starts_with(coalesce((select realtime.topic()), ''), 'inbox:')
    or (select realtime.topic()) = 'inbox:' || (
      select p.profile from public.chat_participants p where p.owner_id = (select auth.uid())
    )
  );

create policy "Clients cannot send on inbox channels"
  on realtime.messages
  as restrictive
  for insert
  to authenticated
  with check (not starts_with(coalesce((select realtime.topic()), ''), 'inbox:'));
