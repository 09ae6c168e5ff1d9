// Send and acknowledge: senders insert topics and recipients read and
// acknowledge them, through the project's policies, triggers and functions,
// against the same work on a bare table as the superuser.
import { type Actor, type Sql, TOPIC_PAYLOAD, type TransactionSql, asUser, connect } from './db.ts';
import { Latencies, sleep } from './stats.ts';

/** Topics each sender inserts before its recipient reads and acknowledges them. */
export const SENDS_PER_ROUND = 10;
/** The client SDK's default inbox page size. */
export const INBOX_PAGE = 100;

/**
 * parley: the project's path as PostgREST runs it. parley-hosted: the same
 * with realtime.send storing the broadcast without a NOTIFY, as on hosted
 * Supabase. bare: bare statements in autocommit. bare-transaction: the same
 * bare statements, each in a transaction that first sets the JWT claims, so
 * the difference to parley is the SQL work alone.
 */
export type SendVariant = 'parley' | 'parley-hosted' | 'bare' | 'bare-transaction';

export interface SendRun {
  connections: number;
  variant: SendVariant;
  /** Topics sent and acknowledged per second. */
  topicsPerSecond: number;
  send: Latencies;
  read: Latencies;
  acknowledge: Latencies;
  /** Mean number of the run's backends waiting for the database-wide lock that a committing NOTIFY takes, sampled every 20 ms. */
  notifyLockWaiters: number;
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

type Statement<T> = (sql: Sql | TransactionSql) => Promise<T>;

/** Runs a bare statement in autocommit, or in a transaction that first sets the JWT claims like a PostgREST request. */
function bare<T>(sql: Sql, actor: Actor, inTransaction: boolean, statement: Statement<T>): Promise<T> {
  if (!inTransaction) return statement(sql);
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${actor.claims}, true)`;
    return statement(tx);
  }) as Promise<T>;
}

async function bareRound(worker: Worker, run: SendRun, inTransaction: boolean): Promise<number> {
  const { sql, sender, recipient } = worker;
  for (let i = 0; i < SENDS_PER_ROUND; i += 1) {
    await run.send.time(() =>
      bare(sql, sender, inTransaction, (db) => db`
        insert into bench_bare.topics (from_profile, to_profile, payload)
        values (${sender.profile}, ${recipient.profile}, ${TOPIC_PAYLOAD}::text::jsonb)
      `),
    );
  }

  const page = await run.read.time(() =>
    bare(sql, recipient, inTransaction, (db) => db<{ id: string }[]>`
      select id, created_at, from_profile, payload from bench_bare.topics
      where to_profile = ${recipient.profile} and id > 0
      order by id
      limit ${INBOX_PAGE}
    `),
  );
  const ids = `{${page.map((row) => row.id).join(',')}}`;
  const deleted = await run.acknowledge.time(() =>
    bare(sql, recipient, inTransaction, (db) => db`delete from bench_bare.topics where id = any(${ids}::bigint[]) returning id`),
  );
  return deleted.length;
}

/**
 * Replaces realtime.send for the duration of `work` with the same function
 * without its pg_notify, and restores the original afterwards. Hosted
 * Supabase's Realtime reads realtime.messages through logical replication, so
 * its realtime.send sends no NOTIFY.
 */
export async function withHostedBroadcast<T>(superuser: Sql, work: () => Promise<T>): Promise<T> {
  const [original] = await superuser<{ definition: string }[]>`
    select pg_get_functiondef('realtime.send(jsonb, text, text, boolean)'::regprocedure) as definition
  `;
  if (original === undefined) throw new Error('realtime.send(jsonb, text, text, boolean) is missing: prepare the database first.');
  const withoutNotify = original.definition.replace(/^\s*perform pg_notify\([^;]*\);\s*$/m, '');
  if (withoutNotify === original.definition) {
    throw new Error('realtime.send has no "perform pg_notify(...);" line to leave out; update withHostedBroadcast to its new body.');
  }

  await superuser.unsafe(withoutNotify);
  try {
    return await work();
  } finally {
    await superuser.unsafe(original.definition);
  }
}

/**
 * Runs `connections` workers for `seconds`, each a sender and recipient pair
 * of its own, so no two workers share a rate limit counter or an inbox.
 */
/**
 * Samples, every 20 ms until `stop()` returns true, how many backends wait
 * for the lock on the database object (pg_locks locktype `object` on
 * pg_database), which a transaction that sent a NOTIFY holds through its
 * commit. Returns the mean count.
 */
async function sampleNotifyLockWaiters(monitor: Sql, stop: () => boolean): Promise<number> {
  let samples = 0;
  let waiting = 0;
  while (!stop()) {
    const [row] = await monitor<{ waiting: number }[]>`
      select count(*)::integer as waiting from pg_locks
      where not granted and locktype = 'object' and classid = 'pg_database'::regclass
    `;
    waiting += row?.waiting ?? 0;
    samples += 1;
    await sleep(20);
  }
  return samples === 0 ? 0 : waiting / samples;
}

export async function runSendAndAcknowledge(
  url: string,
  pairs: Array<{ sender: Actor; recipient: Actor }>,
  connections: number,
  variant: SendRun['variant'],
  seconds: number,
): Promise<SendRun> {
  if (pairs.length < connections) throw new Error(`${connections} connections need ${connections} sender pairs, got ${pairs.length}.`);
  const run: SendRun = {
    connections,
    variant,
    topicsPerSecond: 0,
    send: new Latencies(),
    read: new Latencies(),
    acknowledge: new Latencies(),
    notifyLockWaiters: 0,
  };
  const workers: Worker[] = pairs.slice(0, connections).map((pair) => ({ sql: connect(url), ...pair }));
  const monitor = connect(url);
  const round =
    variant === 'parley' || variant === 'parley-hosted'
      ? parleyRound
      : (worker: Worker, target: SendRun) => bareRound(worker, target, variant === 'bare-transaction');

  try {
    // Opens every connection and prepares the statements before the clock starts.
    await Promise.all(workers.map((worker) => round(worker, { ...run, send: new Latencies(), read: new Latencies(), acknowledge: new Latencies() })));

    let acknowledged = 0;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    const sampling = sampleNotifyLockWaiters(monitor, () => performance.now() >= deadline);
    await Promise.all(
      workers.map(async (worker) => {
        while (performance.now() < deadline) acknowledged += await round(worker, run);
      }),
    );
    run.topicsPerSecond = acknowledged / ((performance.now() - start) / 1000);
    run.notifyLockWaiters = await sampling;
  } finally {
    await Promise.all(workers.map((worker) => worker.sql.end({ timeout: 5 })));
    await monitor.end({ timeout: 5 });
  }
  return run;
}
