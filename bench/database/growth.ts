// Growth and policy cost: per-operation cost of send, inbox read (first page)
// and acknowledgement as the stored topics grow, with the plans of the hot
// statements, and the same operations with row level security on and off.
import { type Actor, type Sql, TOPIC_PAYLOAD, asUser, connect, sqlLiteral } from './db.ts';
import { type Plan, explainStatement } from './explain.ts';
import { INBOX_PAGE } from './send.ts';
import { Latencies } from './stats.ts';

export interface Pair {
  sender: Actor;
  recipient: Actor;
}

export interface OperationLatencies {
  send: Latencies;
  read: Latencies;
  acknowledge: Latencies;
}

export interface GrowthStep {
  topics: number;
  /** One-minute load average of the machine when the rounds started. */
  loadAverage: number;
  latencies: OperationLatencies;
  plans: Plan[];
}

export function emptyLatencies(): OperationLatencies {
  return { send: new Latencies(), read: new Latencies(), acknowledge: new Latencies() };
}

/**
 * Runs one round: the sender sends a topic, the recipient reads its first inbox
 * page and acknowledges the topic just sent (the page's highest id), so the
 * table keeps its size.
 */
export async function measureRound(sql: Sql, pair: Pair, latencies: OperationLatencies): Promise<void> {
  const { sender, recipient } = pair;
  await latencies.send.time(() =>
    asUser(sql, sender, (tx) => tx`
      insert into public.chat_topics (from_profile, to_profile, payload)
      values (${sender.profile}, ${recipient.profile}, ${TOPIC_PAYLOAD}::text::jsonb)
    `),
  );

  const page = await latencies.read.time(() =>
    asUser(sql, recipient, (tx) => tx<{ id: string }[]>`
      select id, created_at, from_profile, payload from public.chat_topics
      where to_profile = ${recipient.profile} and id > 0
      order by id
      limit ${INBOX_PAGE}
    `),
  );
  const newest = page.at(-1)?.id;
  if (newest === undefined) throw new Error(`The inbox of ${recipient.profile} is empty right after a send to it.`);

  const [row] = await latencies.acknowledge.time(() =>
    asUser(sql, recipient, (tx) => tx<{ ids: string[] }[]>`select public.acknowledge_topics(${`{${newest}}`}::bigint[]) as ids`),
  );
  if (row?.ids.length !== 1) throw new Error(`acknowledge_topics did not delete topic ${newest} of ${recipient.profile}.`);
}

export async function measureRounds(url: string, pairs: Pair[], rounds: number, warmup: number): Promise<OperationLatencies> {
  const sql = connect(url);
  try {
    const discard = emptyLatencies();
    for (let i = 0; i < warmup; i += 1) await measureRound(sql, pairs[i % pairs.length] as Pair, discard);
    const latencies = emptyLatencies();
    for (let i = 0; i < rounds; i += 1) await measureRound(sql, pairs[i % pairs.length] as Pair, latencies);
    return latencies;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Explains the statements of send, inbox read and acknowledgement, and the
 * statements the send trigger and the purge run, each `runs` times.
 */
export async function explainHotStatements(superuser: Sql, pair: Pair, runs: number): Promise<Plan[]> {
  const sender = sqlLiteral(pair.sender.profile);
  const recipient = sqlLiteral(pair.recipient.profile);
  const [inbox] = await superuser<{ ids: string }[]>`
    select '{' || string_agg(id::text, ',') || '}' as ids
    from (select id from public.chat_topics where to_profile = ${pair.recipient.profile} order by id limit 10) page
  `;
  const ids = sqlLiteral(inbox?.ids ?? '{0}');

  return [
    await explainStatement(
      superuser,
      'Send: insert as the sender (policy check, limits trigger, broadcast trigger)',
      `insert into public.chat_topics (from_profile, to_profile, payload)
values (${sender}, ${recipient}, ${sqlLiteral(TOPIC_PAYLOAD)}::jsonb)`,
      pair.sender,
      runs,
    ),
    await explainStatement(
      superuser,
      'Send, inside the limits trigger: pending topics of the recipient',
      `select count(*) from (
  select 1 from public.chat_topics t where t.to_profile = ${recipient} limit 10000
) pending_topics`,
      undefined,
      runs,
    ),
    await explainStatement(
      superuser,
      'Send, inside the limits trigger: the rate limit counter upsert',
      `insert into private.rate_limit_counters as c (bucket, subject, target, window_start, window_end, hits)
values ('topic_send', ${sender}, ${recipient}, date_bin(interval '1 second', now(), timestamptz '2000-01-01 00:00:00+00'),
        date_bin(interval '1 second', now(), timestamptz '2000-01-01 00:00:00+00') + interval '1 second', 1)
on conflict (bucket, subject, target, window_start) do update set hits = c.hits + 1
returning c.hits`,
      undefined,
      runs,
    ),
    await explainStatement(
      superuser,
      'Inbox read: first page as the recipient',
      `select id, created_at, from_profile, payload from public.chat_topics
where to_profile = ${recipient} and id > 0
order by id
limit ${INBOX_PAGE}`,
      pair.recipient,
      runs,
    ),
    await explainStatement(
      superuser,
      'Acknowledgement: the delete inside acknowledge_topics, as the recipient',
      `delete from public.chat_topics t
where t.id = any (${ids}::bigint[])
returning t.id`,
      pair.recipient,
      runs,
    ),
    await explainStatement(
      superuser,
      'Purge: one batch of purge_stale_topics',
      `with stale as (
  select t.id from public.chat_topics t
  where t.created_at < now() - interval '30 days'
  order by t.created_at
  limit 5000
  for update skip locked
)
delete from public.chat_topics t using stale where t.id = stale.id`,
      undefined,
      runs,
    ),
  ];
}

export interface PolicyRun {
  on: OperationLatencies;
  off: OperationLatencies;
  /** Server execution times of the send, inbox read and acknowledgement statements, per RLS state. */
  onPlans: Plan[];
  offPlans: Plan[];
}

/** Adds the execution times of `plans` to those of `into`, matched by title. */
function mergePlans(into: Plan[], plans: Plan[]): void {
  for (const plan of plans) {
    const existing = into.find((candidate) => candidate.title === plan.title);
    if (existing === undefined) into.push(plan);
    else existing.execution.merge(plan.execution);
  }
}

/**
 * Runs the same rounds as the same role with row level security on and off
 * on chat_topics, alternating in blocks so drift in the shared CPU hits both
 * states alike. The table's RLS is on again when this returns or throws.
 */
export async function runPolicyCost(url: string, superuser: Sql, pairs: Pair[], rounds: number): Promise<PolicyRun> {
  const result: PolicyRun = { on: emptyLatencies(), off: emptyLatencies(), onPlans: [], offPlans: [] };
  const blocks = 4;
  const perBlock = Math.max(1, Math.ceil(rounds / blocks));
  try {
    for (let block = 0; block < blocks; block += 1) {
      for (const state of ['on', 'off'] as const) {
        await superuser.unsafe(`alter table public.chat_topics ${state === 'on' ? 'enable' : 'disable'} row level security`);
        const latencies = await measureRounds(url, pairs, perBlock, 20);
        result[state].send.merge(latencies.send);
        result[state].read.merge(latencies.read);
        result[state].acknowledge.merge(latencies.acknowledge);
        const plans = await explainHotStatements(superuser, pairs[block % pairs.length] as Pair, Math.max(1, Math.ceil(perBlock / 4)));
        const apiPlans = plans.filter((plan) => /^(Send:|Inbox read:|Acknowledgement:)/.test(plan.title));
        mergePlans(state === 'on' ? result.onPlans : result.offPlans, apiPlans);
      }
    }
  } finally {
    await superuser`alter table public.chat_topics enable row level security`;
  }
  return result;
}

/** Measures the send latency to one recipient whose inbox contains `pending` topics. */
export async function measureSendToFullerInbox(
  url: string,
  superuser: Sql,
  pair: Pair,
  pending: number,
  sends: number,
): Promise<Latencies> {
  await superuser`delete from public.chat_topics where to_profile = ${pair.recipient.profile}`;
  const loader = connect(url);
  try {
    await loader`set session_replication_role = replica`;
    await loader`
      insert into public.chat_topics (from_profile, to_profile, payload)
      select ${pair.sender.profile}, ${pair.recipient.profile}, ${TOPIC_PAYLOAD}::text::jsonb from generate_series(1, ${pending}::integer)
    `;
  } finally {
    await loader.end({ timeout: 5 });
  }
  await superuser`vacuum (analyze) public.chat_topics`;

  const sql = connect(url);
  const latencies = new Latencies();
  try {
    for (let i = 0; i < sends + 20; i += 1) {
      const target = i < 20 ? new Latencies() : latencies;
      await target.time(() =>
        asUser(sql, pair.sender, (tx) => tx`
          insert into public.chat_topics (from_profile, to_profile, payload)
          values (${pair.sender.profile}, ${pair.recipient.profile}, ${TOPIC_PAYLOAD}::text::jsonb)
        `),
      );
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  await superuser`delete from public.chat_topics where to_profile = ${pair.recipient.profile}`;
  return latencies;
}
