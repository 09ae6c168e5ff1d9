// Send and acknowledge: senders insert topics and recipients read and
// acknowledge them, through the project's policies, triggers and functions,
// against the same work on a bare table as the superuser.
import { type Actor, type Sql, TOPIC_PAYLOAD, asUser, connect } from './db.ts';
import { Latencies } from './stats.ts';

/** Topics each sender inserts before its recipient reads and acknowledges them. */
export const SENDS_PER_ROUND = 10;
/** The client SDK's default inbox page size. */
export const INBOX_PAGE = 100;

export interface SendRun {
  connections: number;
  variant: 'parley' | 'bare';
  /** Topics sent and acknowledged per second. */
  topicsPerSecond: number;
  send: Latencies;
  read: Latencies;
  acknowledge: Latencies;
}

/** Creates bench_bare.topics: chat_topics' columns, defaults and indexes, without constraints, policies or triggers. */
export async function createBareTopics(sql: Sql): Promise<void> {
  await sql`create schema if not exists bench_bare`;
  await sql`drop table if exists bench_bare.topics`;
  await sql`create table bench_bare.topics (like public.chat_topics including defaults including identity including indexes)`;
}

interface Worker {
  sql: Sql;
  sender: Actor;
  recipient: Actor;
}

async function parleyRound(worker: Worker, run: SendRun): Promise<number> {
  const { sql, sender, recipient } = worker;
  for (let i = 0; i < SENDS_PER_ROUND; i += 1) {
    await run.send.time(() =>
      asUser(sql, sender, (tx) => tx`
        insert into public.chat_topics (from_profile, to_profile, payload)
        values (${sender.profile}, ${recipient.profile}, ${TOPIC_PAYLOAD}::text::jsonb)
      `),
    );
  }

  const page = await run.read.time(() =>
    asUser(sql, recipient, (tx) => tx<{ id: string }[]>`
      select id, created_at, from_profile, payload from public.chat_topics
      where to_profile = ${recipient.profile} and id > 0
      order by id
      limit ${INBOX_PAGE}
    `),
  );
  const ids = `{${page.map((row) => row.id).join(',')}}`;
  const acknowledged = await run.acknowledge.time(() =>
    asUser(sql, recipient, (tx) => tx<{ ids: string[] }[]>`select public.acknowledge_topics(${ids}::bigint[]) as ids`),
  );
  return acknowledged[0]?.ids.length ?? 0;
}

async function bareRound(worker: Worker, run: SendRun): Promise<number> {
  const { sql, sender, recipient } = worker;
  for (let i = 0; i < SENDS_PER_ROUND; i += 1) {
    await run.send.time(() => sql`
      insert into bench_bare.topics (from_profile, to_profile, payload)
      values (${sender.profile}, ${recipient.profile}, ${TOPIC_PAYLOAD}::text::jsonb)
    `);
  }

  const page = await run.read.time(() => sql<{ id: string }[]>`
    select id, created_at, from_profile, payload from bench_bare.topics
    where to_profile = ${recipient.profile} and id > 0
    order by id
    limit ${INBOX_PAGE}
  `);
  const ids = `{${page.map((row) => row.id).join(',')}}`;
  const deleted = await run.acknowledge.time(() => sql`delete from bench_bare.topics where id = any(${ids}::bigint[]) returning id`);
  return deleted.length;
}

/**
 * Runs `connections` workers for `seconds`, each a sender and recipient pair
 * of its own, so no two workers share a rate limit counter or an inbox.
 */
export async function runSendAndAcknowledge(
  url: string,
  pairs: Array<{ sender: Actor; recipient: Actor }>,
  connections: number,
  variant: SendRun['variant'],
  seconds: number,
): Promise<SendRun> {
  if (pairs.length < connections) throw new Error(`${connections} connections need ${connections} sender pairs, got ${pairs.length}.`);
  const run: SendRun = { connections, variant, topicsPerSecond: 0, send: new Latencies(), read: new Latencies(), acknowledge: new Latencies() };
  const workers: Worker[] = pairs.slice(0, connections).map((pair) => ({ sql: connect(url), ...pair }));
  const round = variant === 'parley' ? parleyRound : bareRound;

  try {
    // Opens every connection and prepares the statements before the clock starts.
    await Promise.all(workers.map((worker) => round(worker, { ...run, send: new Latencies(), read: new Latencies(), acknowledge: new Latencies() })));

    let acknowledged = 0;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
      workers.map(async (worker) => {
        while (performance.now() < deadline) acknowledged += await round(worker, run);
      }),
    );
    run.topicsPerSecond = acknowledged / ((performance.now() - start) / 1000);
  } finally {
    await Promise.all(workers.map((worker) => worker.sql.end({ timeout: 5 })));
  }
  return run;
}
