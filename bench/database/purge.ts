// Purge at scale: purge_stale_topics works through topics past retention in
// batches while a sender keeps inserting. The sender's latencies during the
// purge are compared with its latencies without it.
import { type Actor, type Sql, TOPIC_PAYLOAD, asUser, connect } from './db.ts';
import { Latencies, seededRandom, sleep } from './stats.ts';

export interface PurgeRun {
  deleted: number;
  batches: number;
  batchSize: number;
  seconds: number;
  batch: Latencies;
  senderWithout: Latencies;
  senderDuring: Latencies;
  staleLeft: number;
  freshLeft: number;
  /** WAL written from the purge's start to its end, by the purge and the sender together. */
  walBytes: number;
}

/**
 * Inserts topics from `sender` to random recipients at `rate` per second on
 * one connection until `stop()` returns true. A late insert starts at once,
 * so the rate is a target and the latency includes any stall.
 */
async function paceSender(
  sql: Sql,
  sender: Actor,
  recipients: string[],
  rate: number,
  random: () => number,
  stop: () => boolean,
): Promise<Latencies> {
  const latencies = new Latencies();
  const interval = 1000 / rate;
  let due = performance.now();
  while (!stop()) {
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const recipient = recipients[Math.floor(random() * recipients.length)] as string;
    await latencies.time(() =>
      asUser(sql, sender, (tx) => tx`
        insert into public.chat_topics (from_profile, to_profile, payload)
        values (${sender.profile}, ${recipient}, ${TOPIC_PAYLOAD}::text::jsonb)
      `),
    );
    due += interval;
  }
  return latencies;
}

export async function runPurge(
  url: string,
  superuser: Sql,
  options: { sender: Actor; recipients: string[]; rate: number; senderSeconds: number; seed: number },
  progress: (message: string) => void,
): Promise<PurgeRun> {
  const senderSql = connect(url);
  const purgeSql = connect(url);
  const random = seededRandom(options.seed);

  try {
    const [setting] = await superuser<{ batch_size: string }[]>`select private.integer_setting('purge_batch_size') as batch_size`;
    const batchSize = Number(setting?.batch_size);

    progress(`sender alone for ${options.senderSeconds} s at ${options.rate} inserts/s`);
    const aloneUntil = performance.now() + options.senderSeconds * 1000;
    const senderWithout = await paceSender(senderSql, options.sender, options.recipients, options.rate, random, () => performance.now() > aloneUntil);

    progress('purge with the sender running');
    const batch = new Latencies();
    let deleted = 0;
    let purging = true;
    const [startLsn] = await superuser<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
    const start = performance.now();
    const purge = (async () => {
      try {
        for (;;) {
          const [row] = await batch.time(() => purgeSql<{ deleted: string }[]>`select public.purge_stale_topics() as deleted`);
          const count = Number(row?.deleted);
          deleted += count;
          if (batch.count % 20 === 0) progress(`purged ${deleted.toLocaleString('en-US')} topics in ${batch.count} batches`);
          if (count < batchSize) break;
        }
      } finally {
        purging = false;
      }
    })();
    const senderDuring = await paceSender(senderSql, options.sender, options.recipients, options.rate, random, () => !purging);
    await purge;
    const seconds = (performance.now() - start) / 1000;
    const [wal] = await superuser<{ bytes: string }[]>`select pg_wal_lsn_diff(pg_current_wal_lsn(), ${startLsn?.lsn ?? '0/0'}::pg_lsn) as bytes`;

    const [left] = await superuser<{ stale: string; fresh: string }[]>`
      select count(*) filter (where created_at < now() - private.interval_setting('topic_retention')) as stale,
             count(*) filter (where created_at >= now() - private.interval_setting('topic_retention')) as fresh
      from public.chat_topics
    `;
    return {
      deleted,
      batches: batch.count,
      batchSize,
      seconds,
      batch,
      senderWithout,
      senderDuring,
      staleLeft: Number(left?.stale),
      freshLeft: Number(left?.fresh),
      walBytes: Number(wal?.bytes),
    };
  } finally {
    await senderSql.end({ timeout: 5 });
    await purgeSql.end({ timeout: 5 });
  }
}
