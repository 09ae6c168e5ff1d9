-- Each new topic is announced on the private Realtime channel
-- inbox:<to_profile> without its payload, and only the inbox owner is
-- authorized on that channel.
begin;
\ir _helpers.psql
select plan(22);

select tests.create_profile('alice');
select tests.create_profile('bob');
select tests.create_profile('carol');
select tests.create_user('nobody');
delete from realtime.messages;

-- The broadcast trigger.
select tests.authenticate_as('alice');
insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'bob', '{"v":1,"type":"message","secret":"ciphertext"}');
select tests.clear_authentication();

select is((select count(*)::int from realtime.messages), 1, 'a new topic sends one broadcast');
select is((select topic from realtime.messages), 'inbox:bob', 'the broadcast goes to the recipient''s inbox channel');
select is((select private from realtime.messages), true, 'the inbox channel is private');
select is((select event from realtime.messages), 'topic', 'the broadcast event is "topic"');
select is((select extension from realtime.messages), 'broadcast', 'the message is a Realtime broadcast');
select bag_eq($$ select jsonb_object_keys(payload) from realtime.messages $$, array['id', 'from_profile', 'created_at'],
  'the broadcast carries only the topic id, the sender and the time');
select is((select (payload ->> 'id')::bigint from realtime.messages), (select id from public.chat_topics where to_profile = 'bob'),
  'the broadcast names the new topic''s id');
select is((select payload ->> 'from_profile' from realtime.messages), 'alice', 'the broadcast names the sender');
select is((select (payload ->> 'created_at')::timestamptz from realtime.messages), (select created_at from public.chat_topics where to_profile = 'bob'),
  'the broadcast carries the topic''s creation time');
select unalike((select payload::text from realtime.messages), '%ciphertext%', 'the broadcast never contains the topic payload');

insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', '{"v":1,"type":"message"}');
select is((select count(*)::int from realtime.messages where topic = 'inbox:carol'), 1, 'each recipient gets its own channel');

-- Channel authorization, as Realtime checks it: the caller's role and claims
-- with realtime.topic set to the channel.
create function tests.visible_inbox_messages(channel text) returns integer
language plpgsql
as $$
declare
  visible integer;
begin
  perform set_config('realtime.topic', channel, true);
  select count(*) into visible from realtime.messages where topic = channel;
  return visible;
end;
$$;
grant execute on function tests.visible_inbox_messages(text) to anon, authenticated, service_role;

select tests.authenticate_as('bob');
select is(tests.visible_inbox_messages('inbox:bob'), 1, 'the inbox owner is authorized to receive on its inbox channel');
select is(tests.visible_inbox_messages('inbox:carol'), 0, 'a user is not authorized on another user''s inbox channel');
select throws_ok(
  $$ select set_config('realtime.topic', 'inbox:bob', true); insert into realtime.messages (topic, extension, event, payload, private) values ('inbox:bob', 'broadcast', 'topic', '{}', true) $$,
  '42501', 'new row violates row-level security policy for table "messages"', 'the inbox owner cannot send on its inbox channel');
select tests.authenticate_as('carol');
select is(tests.visible_inbox_messages('inbox:bob'), 0, 'a stranger is not authorized on the inbox channel');
select throws_ok(
  $$ select set_config('realtime.topic', 'inbox:bob', true); insert into realtime.messages (topic, extension, event, payload, private) values ('inbox:bob', 'broadcast', 'topic', '{}', true) $$,
  '42501', 'new row violates row-level security policy for table "messages"', 'a stranger cannot send on an inbox channel');
select tests.authenticate_as('nobody');
select is(tests.visible_inbox_messages('inbox:bob'), 0, 'a user without a profile is not authorized on any inbox channel');
select tests.authenticate_as_anon();
select is(tests.visible_inbox_messages('inbox:bob'), 0, 'anonymous callers are not authorized on inbox channels');

-- A permissive policy that another feature adds for every channel cannot
-- open inbox channels to strangers.
select tests.clear_authentication();
create policy "test: anyone can receive on any channel" on realtime.messages for select to authenticated using (true);
create policy "test: anyone can send on any channel" on realtime.messages for insert to authenticated with check (true);
select tests.authenticate_as('carol');
select is(tests.visible_inbox_messages('inbox:bob'), 0, 'an app-wide receive policy still keeps strangers off inbox channels');
select throws_ok(
  $$ select set_config('realtime.topic', 'inbox:bob', true); insert into realtime.messages (topic, extension, event, payload, private) values ('inbox:bob', 'broadcast', 'topic', '{}', true) $$,
  '42501', 'new row violates row-level security policy "Clients cannot send on inbox channels" for table "messages"',
  'an app-wide send policy still keeps clients from sending on inbox channels');
select lives_ok(
  $$ select set_config('realtime.topic', 'room:lobby', true); insert into realtime.messages (topic, extension, event, payload, private) values ('room:lobby', 'broadcast', 'chat', '{}', true) $$,
  'the inbox policies leave other channels to the app''s own policies');
select tests.authenticate_as('bob');
select is(tests.visible_inbox_messages('inbox:bob'), 1, 'the inbox owner stays authorized alongside app-wide policies');

select * from finish();
rollback;
