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
  /** Wait events of the sender's backend while it ran a statement, alone and during the purge. */
  senderWaitsWithout: WaitSamples;
  senderWaitsDuring: WaitSamples;
}

/** Samples of one backend's wait event while it is active, by `type:event`, with `running` for no wait. */
export interface WaitSamples {
  samples: number;
  counts: Map<string, number>;
}

/**
 * Samples the wait event of backend `pid` every 10 ms while it is active,
 * until `stop()` returns true. A wait of type Lock means the backend waited
 * for a lock another transaction held.
 */
async function sampleWaits(monitor: Sql, pid: number, stop: () => boolean): Promise<WaitSamples> {
  const result: WaitSamples = { samples: 0, counts: new Map() };
  while (!stop()) {
    const [row] = await monitor<{ state: string | null; wait: string | null }[]>`
      select state, wait_event_type || ':' || wait_event as wait from pg_stat_activity where pid = ${pid}
    `;
    if (row?.state === 'active') {
      const key = row.wait ?? 'running';
      result.samples += 1;
      result.counts.set(key, (result.counts.get(key) ?? 0) + 1);
    }
    await sleep(10);
  }
  return result;
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
  const monitor = connect(url);
  const random = seededRandom(options.seed);

  try {
    const [setting] = await superuser<{ batch_size: string }[]>`select private.integer_setting('purge_batch_size') as batch_size`;
    const batchSize = Number(setting?.batch_size);
    const [backend] = await senderSql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const senderPid = backend?.pid ?? 0;

    progress(`sender alone for ${options.senderSeconds} s at ${options.rate} inserts/s`);
    const aloneUntil = performance.now() + options.senderSeconds * 1000;
    const aloneDone = () => performance.now() > aloneUntil;
    const [senderWithout, senderWaitsWithout] = await Promise.all([
      paceSender(senderSql, options.sender, options.recipients, options.rate, random, aloneDone),
      sampleWaits(monitor, senderPid, aloneDone),
    ]);

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
    const [senderDuring, senderWaitsDuring] = await Promise.all([
      paceSender(senderSql, options.sender, options.recipients, options.rate, random, () => !purging),
      sampleWaits(monitor, senderPid, () => !purging),
    ]);
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
      senderWaitsWithout,
      senderWaitsDuring,
    };
  } finally {
    await senderSql.end({ timeout: 5 });
    await purgeSql.end({ timeout: 5 });
    await monitor.end({ timeout: 5 });
  }
}
