-- Who can send, read, change and delete topics in chat_topics, and the
-- limits on sending: payload format and size, inbox cap, sender rate limit.
begin;
\ir _helpers.psql
select plan(47);

select tests.create_profile('alice');
select tests.create_profile('bob');
select tests.create_profile('carol');
select tests.create_profile('dave');
select tests.create_profile('erin');
select tests.create_profile('frank');
select tests.create_user('nobody');

-- as the sender
select tests.authenticate_as('alice');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'bob', '{"v":1,"type":"prekey","n":1}') $$,
  'the sender sends a topic from its own profile');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'bob', '{"v":1,"type":"message","n":2}') $$,
  'the sender sends a second topic');
select is_empty($$ select id from public.chat_topics where from_profile = 'alice' $$,
  'the sender cannot read the topics it sent');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('carol', 'bob', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"', 'the sender cannot spoof another from_profile');
select throws_ok($$ update public.chat_topics set payload = '{"v":1,"type":"message"}' $$,
  '42501', 'permission denied for table chat_topics', 'the sender cannot update topics');
select lives_ok($$ delete from public.chat_topics where from_profile = 'alice' $$, 'the sender''s delete runs');
select tests.clear_authentication();
select is((select count(*)::int from public.chat_topics where from_profile = 'alice' and to_profile = 'bob'), 2,
  'the sender''s delete removes none of the topics it sent');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'nobody-profile', '{"v":1,"type":"message"}') $$,
  '23503', null, 'a topic to an unknown profile is rejected');

-- as the recipient
select tests.authenticate_as('bob');
select results_eq($$ select from_profile, to_profile, payload ->> 'n' from public.chat_topics order by id $$,
  $$ values ('alice'::text, 'bob'::text, '1'::text), ('alice', 'bob', '2') $$,
  'the recipient reads its topics in id order');
select throws_ok($$ update public.chat_topics set payload = '{"v":1,"type":"message"}' where to_profile = 'bob' $$,
  '42501', 'permission denied for table chat_topics', 'the recipient cannot update its topics');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'bob', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"', 'the recipient cannot send as the sender');
select results_eq($$ delete from public.chat_topics where payload ->> 'n' = '1' returning payload ->> 'n' $$,
  $$ values ('1'::text) $$, 'the recipient deletes its topic');

-- as a stranger
select tests.authenticate_as('carol');
select is_empty($$ select id from public.chat_topics where to_profile = 'bob' $$, 'a stranger cannot read another inbox');
select is_empty($$ delete from public.chat_topics where to_profile = 'bob' returning id $$, 'a stranger deletes no topic of another inbox');
select throws_ok($$ update public.chat_topics set to_profile = 'carol' where to_profile = 'bob' $$,
  '42501', 'permission denied for table chat_topics', 'a stranger cannot redirect a topic');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('bob', 'alice', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"', 'a stranger cannot send as another profile');

-- as a user without a profile
select tests.authenticate_as('nobody');
select is_empty($$ select id from public.chat_topics $$, 'a user without a profile reads no topics');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'bob', '{"v":1,"type":"message"}') $$,
  '42501', 'new row violates row-level security policy for table "chat_topics"', 'a user without a profile cannot send topics');

-- anonymous
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.chat_topics $$, '42501', 'permission denied for table chat_topics', 'anonymous callers cannot read topics');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'bob', '{"v":1,"type":"message"}') $$,
  '42501', 'permission denied for table chat_topics', 'anonymous callers cannot send topics');
select throws_ok($$ delete from public.chat_topics $$, '42501', 'permission denied for table chat_topics', 'anonymous callers cannot delete topics');

-- as the service role
select tests.authenticate_as_service_role();
select is((select count(*)::int from public.chat_topics where to_profile = 'bob'), 1, 'the service role reads every topic');
select throws_ok($$ update public.chat_topics set payload = '{"v":1,"type":"message"}' $$,
  '42501', 'permission denied for table chat_topics', 'the service role cannot update topics');

-- as the table owner
select tests.clear_authentication();
select throws_ok($$ update public.chat_topics set payload = '{"v":1,"type":"message"}' $$,
  '42501', null, 'not even the table owner updates topics');

-- Payload format.
select tests.authenticate_as('alice');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', null) $$,
  '23514', 'the topic payload must be a JSON object', 'a topic without a payload is rejected');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', '[1]') $$,
  '23514', 'the topic payload must be a JSON object', 'a topic payload that is not an object is rejected');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', '{"type":"message"}') $$,
  '23514', 'the topic payload must have "v": 1 and "type": "prekey" or "message"', 'a topic payload without a version is rejected');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', '{"v":2,"type":"message"}') $$,
  '23514', 'the topic payload must have "v": 1 and "type": "prekey" or "message"', 'a topic payload of another version is rejected');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', '{"v":1}') $$,
  '23514', 'the topic payload must have "v": 1 and "type": "prekey" or "message"', 'a topic payload without a type is rejected');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', '{"v":1,"type":"note"}') $$,
  '23514', 'the topic payload must have "v": 1 and "type": "prekey" or "message"', 'a topic payload of an unknown type is rejected');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'Carol', '{"v":1,"type":"message"}') $$,
  '23514', null, 'an uppercase to_profile is rejected');

-- Payload size: 65,536 bytes of JSON text by default.
select lives_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload)
     select 'alice', 'carol', jsonb_build_object('v', 1, 'type', 'message', 'body',
       repeat('x', 65536 - octet_length(jsonb_build_object('v', 1, 'type', 'message', 'body', '')::text))) $$,
  'a topic payload of exactly 65,536 bytes is accepted');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload)
     select 'alice', 'carol', jsonb_build_object('v', 1, 'type', 'message', 'body',
       repeat('x', 65537 - octet_length(jsonb_build_object('v', 1, 'type', 'message', 'body', '')::text))) $$,
  'PT413', 'the topic payload has 65537 bytes, more than the maximum of 65536 bytes', 'a topic payload of 65,537 bytes is rejected');
select tests.clear_authentication();
update private.settings set integer_value = 100 where name = 'topic_payload_max_bytes';
select tests.authenticate_as('alice');
select throws_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'carol', jsonb_build_object('v', 1, 'type', 'message', 'body', repeat('x', 100))) $$,
  'PT413', null, 'the payload size limit follows its setting');

-- Inbox cap: inbox_max_pending_topics, lowered to 3 here.
select tests.clear_authentication();
update private.settings set integer_value = 3 where name = 'inbox_max_pending_topics';
select tests.authenticate_as('alice');
select lives_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) select 'alice', 'dave', '{"v":1,"type":"message"}' from generate_series(1, 3) $$,
  'a sender fills an inbox up to its cap');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'dave', '{"v":1,"type":"message"}') $$,
  'PT429', 'the inbox of profile "dave" is full: 3 topics are waiting', 'a send to a full inbox is rejected');
select tests.authenticate_as('carol');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('carol', 'dave', '{"v":1,"type":"message"}') $$,
  'PT429', null, 'a full inbox rejects every sender');
select tests.authenticate_as('dave');
select lives_ok($$ select public.acknowledge_topics(array[(select min(id) from public.chat_topics where to_profile = 'dave')]) $$,
  'the recipient acknowledges one topic');
select tests.authenticate_as('carol');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('carol', 'dave', '{"v":1,"type":"message"}') $$,
  'an acknowledged topic frees room in the inbox');

-- Sender rate limit: topic_rate_limit_max per topic_rate_limit_window and pair, lowered to 2 here.
select tests.clear_authentication();
update private.settings set integer_value = 10000 where name = 'inbox_max_pending_topics';
update private.settings set integer_value = 2 where name = 'topic_rate_limit_max';
select tests.authenticate_as('alice');
select lives_ok(
  $$ insert into public.chat_topics (from_profile, to_profile, payload) select 'alice', 'erin', '{"v":1,"type":"message"}' from generate_series(1, 2) $$,
  'a sender sends up to the rate limit');
select throws_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'erin', '{"v":1,"type":"message"}') $$,
  'PT429', 'profile "alice" sent more than 2 topics to profile "erin" within 00:00:01', 'a sender over the rate limit is rejected');
select matches(
  tests.error_hint($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'erin', '{"v":1,"type":"message"}') $$),
  '^retry after [0-9]+ seconds$', 'the rate limit error says when to retry');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'frank', '{"v":1,"type":"message"}') $$,
  'the rate limit applies per recipient');
select tests.authenticate_as('carol');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('carol', 'erin', '{"v":1,"type":"message"}') $$,
  'the rate limit applies per sender');
select tests.clear_authentication();
select is((select count(*)::int from public.chat_topics where from_profile = 'alice' and to_profile = 'erin'), 2,
  'rejected sends store nothing');
update private.rate_limit_counters set window_start = window_start - interval '1 hour', window_end = window_end - interval '1 hour'
  where bucket = 'topic_send' and subject = 'alice' and target = 'erin';
select tests.authenticate_as('alice');
select lives_ok($$ insert into public.chat_topics (from_profile, to_profile, payload) values ('alice', 'erin', '{"v":1,"type":"message"}') $$,
  'a sender may send again in the next window');

-- Deleting a profile deletes the topics from and to it.
select tests.clear_authentication();
delete from auth.users where id = tests.user_id('bob');
select is_empty($$ select id from public.chat_topics where to_profile = 'bob' or from_profile = 'bob' $$,
  'deleting a recipient''s user deletes its inbox');

select * from finish();
rollback;
