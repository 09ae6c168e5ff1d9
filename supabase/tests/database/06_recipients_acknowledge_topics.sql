-- acknowledge_topics deletes the caller's own topics among the given ids and
-- returns them; other ids delete nothing and raise no error.
begin;
\ir _helpers.psql
select plan(17);

select tests.create_profile('alice');
select tests.create_profile('bob');
select tests.create_profile('carol');
select tests.create_user('nobody');

create temporary table sent (label text, id bigint) on commit drop;
grant select on sent to authenticated, anon, service_role;
with inserted as (
  insert into public.chat_topics (from_profile, to_profile, payload)
  values ('alice', 'bob', '{"v":1,"type":"message","n":1}'),
         ('alice', 'bob', '{"v":1,"type":"message","n":2}'),
         ('alice', 'bob', '{"v":1,"type":"message","n":3}'),
         ('alice', 'carol', '{"v":1,"type":"message","n":4}')
  returning id, payload ->> 'n' as n
)
insert into sent select 'topic' || n, id from inserted;

-- as the recipient
select tests.authenticate_as('bob');
select is(
  public.acknowledge_topics(array[
    (select id from sent where label = 'topic2'),
    (select id from sent where label = 'topic1'),
    (select id from sent where label = 'topic4'),
    9007199254740991
  ]),
  array[(select id from sent where label = 'topic1'), (select id from sent where label = 'topic2')],
  'the recipient acknowledges its topics and gets their ids back in ascending order');
select results_eq($$ select payload ->> 'n' from public.chat_topics order by id $$, $$ values ('3'::text) $$,
  'acknowledged topics are deleted');
select is(public.acknowledge_topics(array[(select id from sent where label = 'topic1')]), '{}'::bigint[],
  'acknowledging a topic again deletes nothing and is no error');
select is(public.acknowledge_topics(array[(select id from sent where label = 'topic3'), (select id from sent where label = 'topic3'), null]),
  array[(select id from sent where label = 'topic3')], 'repeated and null ids are ignored');
select tests.clear_authentication();
select is((select count(*)::int from public.chat_topics where to_profile = 'carol'), 1,
  'the recipient''s acknowledgement leaves other inboxes alone');

-- as a stranger and the sender
select tests.authenticate_as('alice');
select is(public.acknowledge_topics(array[(select id from sent where label = 'topic4')]), '{}'::bigint[],
  'the sender cannot acknowledge a topic it sent');
select tests.authenticate_as('bob');
select is(public.acknowledge_topics(array[(select id from sent where label = 'topic4')]), '{}'::bigint[],
  'a stranger cannot acknowledge someone else''s topic');
select tests.authenticate_as('nobody');
select is(public.acknowledge_topics(array[(select id from sent where label = 'topic4')]), '{}'::bigint[],
  'a user without a profile acknowledges nothing');
select tests.clear_authentication();
select is((select count(*)::int from public.chat_topics where to_profile = 'carol'), 1, 'other callers'' acknowledgements delete nothing');

-- Argument checks.
select tests.authenticate_as('carol');
select throws_ok($$ select public.acknowledge_topics('{}') $$, '22023', 'acknowledge_topics takes 1 to 1000 topic ids, got 0',
  'an empty id list is rejected');
select throws_ok($$ select public.acknowledge_topics(null) $$, '22023', 'acknowledge_topics takes 1 to 1000 topic ids, got 0',
  'a missing id list is rejected');
select throws_ok($$ select public.acknowledge_topics(array(select generate_series(1, 1001)::bigint)) $$,
  '22023', 'acknowledge_topics takes 1 to 1000 topic ids, got 1001', 'more than 1000 ids are rejected');
select is(public.acknowledge_topics(array(select generate_series(1, 999)::bigint) || (select id from sent where label = 'topic4')),
  array[(select id from sent where label = 'topic4')], '1000 ids are accepted');
select tests.clear_authentication();
update private.settings set integer_value = 2 where name = 'acknowledge_max_ids';
select tests.authenticate_as('carol');
select throws_ok($$ select public.acknowledge_topics(array[1, 2, 3]::bigint[]) $$, '22023', null, 'the id limit follows its setting');

-- Who may call it.
select tests.authenticate_as_anon();
select throws_ok($$ select public.acknowledge_topics(array[1]::bigint[]) $$, '42501', 'permission denied for function acknowledge_topics',
  'anonymous callers cannot acknowledge topics');
select tests.authenticate_as_service_role();
select throws_ok($$ select public.acknowledge_topics(array[1]::bigint[]) $$, '42501', 'permission denied for function acknowledge_topics',
  'the service role cannot acknowledge topics');
select tests.clear_authentication();
select is((select count(*)::int from public.chat_topics), 0, 'only the recipients'' acknowledgements deleted topics');

select * from finish();
rollback;
