// Database benchmarks: send and acknowledge, prekey claims under contention,
// purge at scale, cost as the tables grow, and what the policies cost, each
// against a baseline in the same run on a throwaway PostgreSQL cluster.
//
//   npm run bench:db -- [--binaries=system] [--with-10m] [--help]
//
// The results go to the "Database" section of bench/RESULTS.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { prepareDatabase } from '../packages/local-stack/src/migrate.ts';
import { startCluster } from '../packages/local-stack/src/postgres/cluster.ts';
import { type ClaimRun, copyPrekeysToBare, createBarePrekeys, runClaims, storePrekeys } from './database/claims.ts';
import { type Actor, connect, createProfiles, loadActors, loadTopics, profileName, raiseRateLimits, serverVersion, settle, vacuumAnalyze } from './database/db.ts';
import { type Plan, explainStatement } from './database/explain.ts';
import {
  type GrowthStep,
  type Pair,
  type PolicyRun,
  explainHotStatements,
  measureRounds,
  measureSendToFullerInbox,
  runPolicyCost,
} from './database/growth.ts';
import { parseOptions } from './database/options.ts';
import { type PurgeRun, runPurge } from './database/purge.ts';
import { type BenchResults, machineDescription, renderSection, writeSection } from './database/report.ts';
import { type SendRun, createBareTopics, runSendAndAcknowledge, withHostedBroadcast } from './database/send.ts';
import { type Latencies, seededRandom, shuffle } from './database/stats.ts';

/** Rate limit used for every benchmark pair; the defaults would stop a pair after 60 sends per second and 6 claims per 10 minutes. */
const BENCH_RATE_LIMIT = 1_000_000_000;
/** Topics waiting in each measured inbox during the growth runs, so the first page has the same rows at every size. */
const MEASURED_INBOX_TOPICS = 20;
const MEASURED_PAIRS = 20;
/** Runs of each hot statement's `explain (analyze)` per growth size, for the median server execution time. */
const EXPLAIN_RUNS = 40;
const FULLER_INBOXES = [0, 1_000, 9_800];
const SEND_VARIANTS = ['bare', 'bare-transaction', 'parley', 'parley-hosted'] as const;
const CLAIM_VARIANTS = ['bare', 'bare-transaction', 'parley'] as const;

const started = performance.now();
/** Lowest and highest one-minute load average seen at any progress line. */
const loadRange = { min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
function progress(message: string): void {
  const load = loadavg()[0] ?? Number.NaN;
  loadRange.min = Math.min(loadRange.min, load);
  loadRange.max = Math.max(loadRange.max, load);
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(7);
  process.stderr.write(`[bench:db ${seconds} s] ${message}\n`);
}

function pairsOf(actors: Actor[]): Pair[] {
  const pairs: Pair[] = [];
  for (let i = 0; i + 1 < actors.length; i += 2) pairs.push({ sender: actors[i] as Actor, recipient: actors[i + 1] as Actor });
  return pairs;
}

/** Returns a created_at expression for loadTopics that rises evenly from `start` over `span` as the load goes on, like topics arriving over time. */
function spread(count: number, start: string, span: string): string {
  return `${start} + (g::double precision / ${count}) * interval '${span}'`;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const results: BenchResults = {
    command: ['npm run bench:db', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
    options,
    machine: '',
    loadRange: { min: Number.NaN, max: Number.NaN },
    send: [],
    claims: [],
    claimPlans: [],
    purge: undefined,
    growth: [],
    fullerInbox: [],
    policy: undefined,
  };

  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-db-'));
  const logger = pino({ name: 'bench-db', level: process.env.PARLEY_LOG_LEVEL ?? 'warn' });
  progress(`starting PostgreSQL (${options.binaries}) in ${dataDir}`);
  const cluster = await startCluster({ dataDir, port: 0, binaries: options.binaries, logger });
  const superuser = connect(cluster.superuserUrl, 4);

  try {
    await prepareDatabase(cluster.superuserUrl, { logger });
    results.machine = machineDescription(await serverVersion(superuser), options.binaries);
    progress(results.machine);
    await raiseRateLimits(superuser, BENCH_RATE_LIMIT);
    if (cluster.hasPgCron) {
      // The scheduled purge would delete purge fixtures and compete with the measured runs.
      await superuser`select cron.unschedule(jobid) from cron.job where jobname = 'parley-purge-stale-topics'`;
    }
    const random = seededRandom(options.seed);
    const url = cluster.superuserUrl;

    if (options.phases.has('send')) {
      const maxConnections = Math.max(...options.connectionCounts);
      await createProfiles(superuser, 'send-', maxConnections * 2);
      const pairs = pairsOf(await loadActors(superuser, range(1, maxConnections * 2).map((i) => profileName('send-', i))));
      await createBareTopics(superuser);
      for (const connections of options.connectionCounts) {
        for (const variant of SEND_VARIANTS) {
          progress(`send and acknowledge: ${variant}, ${connections} connection(s), ${options.sendSeconds} s`);
          const measure = () => runSendAndAcknowledge(url, pairs, connections, variant, options.sendSeconds);
          const run: SendRun = variant === 'parley-hosted' ? await withHostedBroadcast(superuser, measure) : await measure();
          progress(`  ${Math.round(run.topicsPerSecond)} topics/s, send p50 ${run.send.p50.toFixed(2)} ms, p99 ${run.send.p99.toFixed(2)} ms`);
          results.send.push(run);
        }
      }
      await superuser`truncate public.chat_topics, bench_bare.topics`;
    }

    if (options.phases.has('claims')) {
      await createProfiles(superuser, 'claimer-', options.claimers);
      await createProfiles(superuser, 'claimone-', 1);
      await createProfiles(superuser, 'claimmany-', options.claimProfiles);
      const claimers = await loadActors(superuser, range(1, options.claimers).map((i) => profileName('claimer-', i)));
      await createBarePrekeys(superuser);

      const one = profileName('claimone-', 1);
      const many = range(1, options.claimProfiles).map((i) => profileName('claimmany-', i));
      progress(`storing ${options.claimKeys} one-time keys of each kind on one profile`);
      await storePrekeys(superuser, [one], options.claimKeys);
      progress(`storing ${options.keysPerProfile} one-time keys of each kind on ${options.claimProfiles} profiles`);
      await storePrekeys(superuser, many, options.keysPerProfile);

      const pick = (table: string, profile: string) => `delete from ${table} k
where k.id = (
  select c.id from ${table} c
  where c.profile = '${profile}' and c.kind = 'one_time_ec'
  order by c.key_id
  limit 1
  for update skip locked
)
returning k.key_id, k.public_key, k.signature`;
      await copyPrekeysToBare(superuser, [one]);
      results.claimPlans.push(
        await explainStatement(superuser, 'Claim: the one-time key pick inside claim_prekey_bundle', pick('public.chat_prekeys', one)),
        await explainStatement(superuser, 'Claim baseline: the same pick on the bare table', pick('bench_bare.prekeys', one)),
      );

      const scenarios = [
        { scenario: `one profile, ${options.claimKeys.toLocaleString('en-US')} keys`, targets: Array<string>(options.claimKeys).fill(one), keys: options.claimKeys },
        {
          scenario: `${options.claimProfiles.toLocaleString('en-US')} profiles, ${options.keysPerProfile} keys each`,
          targets: shuffle(many.flatMap((profile) => Array<string>(options.keysPerProfile).fill(profile)), random),
          keys: options.keysPerProfile,
        },
      ];
      for (const { scenario, targets, keys } of scenarios) {
        for (const variant of CLAIM_VARIANTS) {
          // Each bare variant starts from a full copy; chat_prekeys stays full until the parley variant, which runs last.
          if (variant !== 'parley') await copyPrekeysToBare(superuser, [...new Set(targets)]);
          progress(`claims: ${variant}, ${scenario}, ${options.claimers} claimers, ${targets.length} claims`);
          const run: ClaimRun = await runClaims(
            url,
            superuser,
            { variant, scenario, claimers, targets, keysPerProfile: keys },
            (done) => progress(`  ${done} claims`),
          );
          progress(`  ${Math.round(run.claimsPerSecond)} claims/s, p50 ${run.latency.p50.toFixed(2)} ms, duplicates ${run.duplicates}, lost ${run.lost}`);
          results.claims.push(run);
        }
      }
    }

    const needsBackground = options.phases.has('purge') || options.phases.has('growth') || options.phases.has('policy');
    if (needsBackground) {
      progress(`creating ${options.profiles.toLocaleString('en-US')} profiles and their auth users`);
      await createProfiles(superuser, 'bench-', options.profiles, (done) => progress(`  ${done.toLocaleString('en-US')} profiles`));
      await vacuumAnalyze(superuser, 'public.chat_participants');
    }
    const measured = needsBackground ? await loadActors(superuser, range(1, MEASURED_PAIRS * 2).map((i) => profileName('bench-', i))) : [];
    const pairs = pairsOf(measured);
    const firstBackground = MEASURED_PAIRS * 2 + 1;

    if (options.phases.has('purge')) {
      await superuser`truncate public.chat_topics`;
      const load = { prefix: 'bench-', firstProfile: firstBackground, lastProfile: options.profiles };
      progress(`loading ${options.purgeStale.toLocaleString('en-US')} topics past retention`);
      await loadTopics(
        url,
        { ...load, count: options.purgeStale, createdAt: spread(options.purgeStale, `now() - private.interval_setting('topic_retention') - interval '8 days'`, '7 days') },
        (done) => progress(`  ${done.toLocaleString('en-US')} stale topics`),
      );
      progress(`loading ${options.purgeFresh.toLocaleString('en-US')} topics within retention`);
      await loadTopics(url, { ...load, count: options.purgeFresh, createdAt: spread(options.purgeFresh, `now() - interval '1 day'`, '1 day') }, (done) =>
        progress(`  ${done.toLocaleString('en-US')} fresh topics`),
      );
      await settle(superuser, 'public.chat_topics');

      const recipients = range(firstBackground, options.profiles).map((i) => profileName('bench-', i));
      const run: PurgeRun = await runPurge(
        url,
        superuser,
        { sender: (pairs[0] as Pair).sender, recipients, rate: options.senderRate, senderSeconds: options.senderSeconds, seed: options.seed },
        progress,
      );
      progress(`  purged ${run.deleted} topics in ${run.seconds.toFixed(1)} s; sender p99 ${run.senderWithout.p99.toFixed(2)} ms alone, ${run.senderDuring.p99.toFixed(2)} ms during`);
      results.purge = run;
    }

    if (options.phases.has('growth') || options.phases.has('policy')) {
      await superuser`truncate public.chat_topics`;
      for (const pair of pairs) {
        await superuser`
          insert into public.chat_topics (from_profile, to_profile, payload)
          select ${pair.sender.profile}, ${pair.recipient.profile}, '{"v":1,"type":"message"}'::jsonb
          from generate_series(1, ${MEASURED_INBOX_TOPICS}::integer)
        `;
      }
      const sizes = options.phases.has('growth') ? options.growthSizes : [Math.min(...options.growthSizes)];
      let stored = MEASURED_PAIRS * MEASURED_INBOX_TOPICS;
      for (const size of sizes) {
        if (size > stored) {
          progress(`growing chat_topics to ${size.toLocaleString('en-US')} topics across ${options.profiles.toLocaleString('en-US')} profiles`);
          await loadTopics(
            url,
            { prefix: 'bench-', firstProfile: firstBackground, lastProfile: options.profiles, count: size - stored, createdAt: spread(size - stored, `now() - interval '1 day'`, '1 day') },
            (done) => progress(`  ${(stored + done).toLocaleString('en-US')} topics`),
          );
          stored = size;
        }
        await settle(superuser, 'public.chat_topics');
        if (!options.phases.has('growth')) break;

        progress(`growth: ${options.growthRounds} rounds at ${size.toLocaleString('en-US')} topics`);
        const loadAverage = loadavg()[0] ?? Number.NaN;
        const latencies = await measureRounds(url, pairs, options.growthRounds, 50);
        const plans: Plan[] = await explainHotStatements(superuser, pairs[0] as Pair, EXPLAIN_RUNS);
        progress(`  send p50 ${latencies.send.p50.toFixed(2)} ms, read p50 ${latencies.read.p50.toFixed(2)} ms, acknowledge p50 ${latencies.acknowledge.p50.toFixed(2)} ms`);
        results.growth.push({ topics: size, loadAverage, latencies, plans } satisfies GrowthStep);
      }

      if (options.phases.has('growth')) {
        const pair = pairs.at(-1) as Pair;
        for (const pending of FULLER_INBOXES) {
          progress(`send to an inbox with ${pending} pending topics`);
          const latencies: Latencies = await measureSendToFullerInbox(url, superuser, pair, pending, 100);
          results.fullerInbox.push({ pending, latencies });
        }
      }

      if (options.phases.has('policy')) {
        progress(`policy cost: ${options.policyRounds} rounds with RLS on and as many with RLS off, at ${stored.toLocaleString('en-US')} topics`);
        const run: PolicyRun = await runPolicyCost(url, superuser, pairs.slice(0, MEASURED_PAIRS - 1), options.policyRounds);
        results.policy = { topics: stored, ...run };
      }
    }

    results.loadRange = { ...loadRange };
    const section = renderSection(results);
    if (options.writeResults) {
      await writeSection(options.resultsPath, section);
      progress(`wrote the Database section of ${options.resultsPath}`);
    } else {
      process.stdout.write(`${section}\n`);
    }
  } finally {
    await superuser.end({ timeout: 5 });
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  progress('done');
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:db failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
