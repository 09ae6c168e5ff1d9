// Renders the "Database" section of the results page and writes it in place,
// leaving the page's other sections as they are.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import type { ClaimRun } from './claims.ts';
import type { Plan } from './explain.ts';
import type { GrowthStep, OperationLatencies, PolicyRun } from './growth.ts';
import type { BenchOptions } from './options.ts';
import type { PurgeRun, WaitSamples } from './purge.ts';
import { SENDS_PER_ROUND, type SendRun } from './send.ts';
import { type Latencies, formatCount, formatMs, formatRate, formatRatio } from './stats.ts';
import { findings } from './findings.ts';

export interface BenchResults {
  command: string;
  options: BenchOptions;
  machine: string;
  /** Lowest and highest one-minute load average of the machine during the run. */
  loadRange: { min: number; max: number };
  send: SendRun[];
  claims: ClaimRun[];
  claimPlans: Plan[];
  purge: PurgeRun | undefined;
  growth: GrowthStep[];
  fullerInbox: Array<{ pending: number; latencies: Latencies }>;
  policy: ({ topics: number } & PolicyRun) | undefined;
}

export const SECTION_HEADING = '## Database';

export function machineDescription(version: string, binaries: string): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const gib = Math.round(totalmem() / 2 ** 30);
  const server = /^PostgreSQL [0-9.]+/.exec(version)?.[0] ?? version;
  return `${cpus().length} cores (nproc), ${model}, ${gib} GiB, ${server} (${binaries} binaries), Node ${process.version}`;
}

function verdict(met: boolean): string {
  return met ? 'met' : '**missed**';
}

function sendRun(results: BenchResults, connections: number, variant: SendRun['variant']): SendRun | undefined {
  return results.send.find((run) => run.connections === connections && run.variant === variant);
}

function claimRun(results: BenchResults, scenario: string, variant: ClaimRun['variant']): ClaimRun | undefined {
  return results.claims.find((run) => run.scenario === scenario && run.variant === variant);
}

/** Rows of the summary table: figure, measured, baseline, ratio, target, verdict. */
function summaryRows(results: BenchResults): string[][] {
  const rows: string[][] = [];

  for (const connections of results.options.connectionCounts) {
    const bare = sendRun(results, connections, 'bare');
    if (bare === undefined) continue;
    for (const variant of ['parley', 'parley-hosted'] as const) {
      const run = sendRun(results, connections, variant);
      if (run === undefined) continue;
      const ratio = run.topicsPerSecond / bare.topicsPerSecond;
      const targeted = connections === 8;
      rows.push([
        `Send and acknowledge, ${connections} connection${connections === 1 ? '' : 's'}, ${variant === 'parley' ? 'local stack broadcast (NOTIFY)' : 'hosted broadcast (no NOTIFY)'} (topics/s)`,
        formatRate(run.topicsPerSecond),
        formatRate(bare.topicsPerSecond),
        formatRatio(ratio),
        targeted ? '>= 0.50x' : 'none',
        targeted ? verdict(ratio >= 0.5) : '',
      ]);
    }
  }

  const scenarios = [...new Set(results.claims.map((run) => run.scenario))];
  for (const scenario of scenarios) {
    const parley = claimRun(results, scenario, 'parley');
    const bare = claimRun(results, scenario, 'bare');
    if (parley === undefined || bare === undefined) continue;
    const ratio = parley.claimsPerSecond / bare.claimsPerSecond;
    rows.push([
      `Prekey claims, ${parley.claimers} claimers, ${scenario} (claims/s)`,
      formatRate(parley.claimsPerSecond),
      formatRate(bare.claimsPerSecond),
      formatRatio(ratio),
      '>= 0.50x',
      verdict(ratio >= 0.5),
    ]);
    rows.push([
      `Prekey claims, ${scenario}: keys handed out twice / lost`,
      `${parley.duplicates} / ${parley.lost}`,
      `${bare.duplicates} / ${bare.lost}`,
      '',
      '0 / 0',
      verdict(parley.duplicates === 0 && parley.lost === 0),
    ]);
  }

  const purge = results.purge;
  if (purge !== undefined) {
    const ratio = purge.senderDuring.p99 / purge.senderWithout.p99;
    rows.push([
      `Insert p99 of a concurrent sender during the purge of ${formatCount(purge.deleted)} topics`,
      formatMs(purge.senderDuring.p99),
      formatMs(purge.senderWithout.p99),
      formatRatio(ratio),
      '<= 2.00x',
      verdict(ratio <= 2),
    ]);
  }

  const smallest = results.growth[0];
  const largest = results.growth.at(-1);
  if (smallest !== undefined && largest !== undefined && largest !== smallest) {
    for (const operation of ['send', 'read', 'acknowledge'] as const) {
      const ratio = largest.latencies[operation].p50 / smallest.latencies[operation].p50;
      rows.push([
        `${operationName(operation)}, request p50 at ${formatCount(largest.topics)} topics`,
        formatMs(largest.latencies[operation].p50),
        `${formatMs(smallest.latencies[operation].p50)} at ${formatCount(smallest.topics)}`,
        formatRatio(ratio),
        '<= 1.50x',
        verdict(ratio <= 1.5),
      ]);
      const largestPlan = planOf(largest.plans, operation);
      const smallestPlan = planOf(smallest.plans, operation);
      if (largestPlan === undefined || smallestPlan === undefined) continue;
      const serverRatio = largestPlan.execution.p50 / smallestPlan.execution.p50;
      rows.push([
        `${operationName(operation)}, server execution p50 at ${formatCount(largest.topics)} topics`,
        formatMs(largestPlan.execution.p50),
        `${formatMs(smallestPlan.execution.p50)} at ${formatCount(smallest.topics)}`,
        formatRatio(serverRatio),
        '<= 1.50x',
        verdict(serverRatio <= 1.5),
      ]);
    }
    const indexOnly = results.growth.every((step) => step.plans.every((plan) => plan.indexOnly));
    rows.push(['Hot statements use index access only, at every size', indexOnly ? 'yes' : 'no', '', '', 'yes', verdict(indexOnly)]);
  }

  const policy = results.policy;
  if (policy !== undefined) {
    for (const operation of ['send', 'read', 'acknowledge'] as const) {
      const on = planOf(policy.onPlans, operation);
      const off = planOf(policy.offPlans, operation);
      if (on === undefined || off === undefined) continue;
      rows.push([
        `${operationName(operation)}, server execution p50 with RLS on (policy cost)`,
        formatMs(on.execution.p50),
        `${formatMs(off.execution.p50)} with RLS off`,
        formatRatio(on.execution.p50 / off.execution.p50),
        'none',
        '',
      ]);
    }
  }
  return rows;
}

const PLAN_PREFIX = { send: 'Send:', read: 'Inbox read:', acknowledge: 'Acknowledgement:' } as const;

/** Returns the plan of the statement behind an operation: the insert, the inbox select or the acknowledging delete. */
export function planOf(plans: Plan[], operation: 'send' | 'read' | 'acknowledge'): Plan | undefined {
  return plans.find((plan) => plan.title.startsWith(PLAN_PREFIX[operation]));
}

function operationName(operation: 'send' | 'read' | 'acknowledge'): string {
  return { send: 'Send', read: 'Inbox read (first page)', acknowledge: 'Acknowledgement' }[operation];
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function latencyCells(latencies: Latencies): string[] {
  return [formatMs(latencies.p50), formatMs(latencies.p99), formatMs(latencies.mean)];
}

const SEND_VARIANT_NAMES: Record<SendRun['variant'], string> = {
  bare: 'bare table, superuser, autocommit',
  'bare-transaction': 'bare table, superuser, PostgREST-style transaction',
  parley: 'Parley as the local stack runs it (broadcast with NOTIFY)',
  'parley-hosted': 'Parley with the hosted broadcast (no NOTIFY)',
};

const CLAIM_VARIANT_NAMES: Record<ClaimRun['variant'], string> = {
  bare: 'bare pick, superuser, autocommit',
  'bare-transaction': 'bare pick, superuser, PostgREST-style transaction',
  parley: 'claim_prekey_bundle as the claimer',
};

function sendDetails(results: BenchResults): string {
  const rows = results.send.map((run) => [
    String(run.connections),
    SEND_VARIANT_NAMES[run.variant],
    formatRate(run.topicsPerSecond),
    formatRatio(run.topicsPerSecond / (sendRun(results, run.connections, 'bare')?.topicsPerSecond ?? Number.NaN)),
    ...latencyCells(run.send).slice(0, 2),
    ...latencyCells(run.read).slice(0, 2),
    ...latencyCells(run.acknowledge).slice(0, 2),
    run.notifyLockWaiters.toFixed(2),
  ]);
  return table(
    ['connections', 'variant', 'topics/s', 'vs bare', 'send p50', 'send p99', 'read p50', 'read p99', 'ack p50', 'ack p99', 'backends waiting for the NOTIFY lock (mean)'],
    rows,
  );
}

function claimDetails(results: BenchResults): string {
  const rows = results.claims.map((run) => [
    run.scenario,
    CLAIM_VARIANT_NAMES[run.variant],
    formatCount(run.claims),
    formatRate(run.claimsPerSecond),
    formatRatio(run.claimsPerSecond / (claimRun(results, run.scenario, 'bare')?.claimsPerSecond ?? Number.NaN)),
    formatMs(run.latency.p50),
    formatMs(run.latency.p99),
    String(run.duplicates),
    String(run.lost),
    String(run.withoutEcKey),
    `${run.remainingEc} / ${run.remainingKem}`,
  ]);
  return table(
    ['scenario', 'variant', 'claims', 'claims/s', 'vs bare', 'p50', 'p99', 'handed out twice', 'lost', 'claims without an EC key', 'keys left (EC / KEM)'],
    rows,
  );
}

/** Lists the most frequent wait events of a sample set with their shares, for example "running 61%, IO:WALSync 30%". */
export function describeWaits(waits: WaitSamples): string {
  if (waits.samples === 0) return 'no samples';
  const top = [...waits.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
  return `${top.map(([wait, count]) => `${wait} ${Math.round((100 * count) / waits.samples)}%`).join(', ')} (${waits.samples} samples)`;
}

/** Returns the share of samples in which the backend waited for a heavyweight lock. */
export function lockWaitShare(waits: WaitSamples): number {
  let locked = 0;
  for (const [wait, count] of waits.counts) if (wait.startsWith('Lock:')) locked += count;
  return waits.samples === 0 ? 0 : locked / waits.samples;
}

function purgeDetails(purge: PurgeRun): string {
  return table(
    ['figure', 'value'],
    [
      ['topics deleted', formatCount(purge.deleted)],
      ['purge duration', formatMs(purge.seconds * 1000)],
      ['purge rate', formatRate(purge.deleted / purge.seconds)],
      ['batches (purge_stale_topics calls)', `${formatCount(purge.batches)} of up to ${formatCount(purge.batchSize)}`],
      ['batch duration p50 / p99 / max (the longest any row lock is held)', `${formatMs(purge.batch.p50)} / ${formatMs(purge.batch.p99)} / ${formatMs(purge.batch.max)}`],
      ['sender alone: inserts, p50 / p99 / max', `${formatCount(purge.senderWithout.count)}, ${formatMs(purge.senderWithout.p50)} / ${formatMs(purge.senderWithout.p99)} / ${formatMs(purge.senderWithout.max)}`],
      ['sender during the purge: inserts, p50 / p99 / max', `${formatCount(purge.senderDuring.count)}, ${formatMs(purge.senderDuring.p50)} / ${formatMs(purge.senderDuring.p99)} / ${formatMs(purge.senderDuring.max)}`],
      ['sender alone: what its active backend waited for (share of samples)', describeWaits(purge.senderWaitsWithout)],
      ['sender during the purge: what its active backend waited for (share of samples)', describeWaits(purge.senderWaitsDuring)],
      ['WAL written during the purge (purge and sender)', `${(purge.walBytes / 2 ** 20).toFixed(0)} MiB`],
      ['stale topics left / fresh topics left', `${formatCount(purge.staleLeft)} / ${formatCount(purge.freshLeft)}`],
    ],
  );
}

function growthDetails(results: BenchResults): string {
  const rows = results.growth.map((step) => [
    formatCount(step.topics),
    step.loadAverage.toFixed(1),
    ...latencyCells(step.latencies.send),
    ...latencyCells(step.latencies.read),
    ...latencyCells(step.latencies.acknowledge),
  ]);
  return table(
    ['stored topics', 'load average', 'send p50', 'send p99', 'send mean', 'read p50', 'read p99', 'read mean', 'ack p50', 'ack p99', 'ack mean'],
    rows,
  );
}

function scanSummary(results: BenchResults): string {
  const rows: string[][] = [];
  for (const step of results.growth) {
    for (const plan of step.plans) {
      rows.push([
        formatCount(step.topics),
        plan.title,
        `${formatMs(plan.execution.p50)} / ${formatMs(plan.execution.p99)}`,
        plan.scans.length === 0 ? 'no scan' : plan.scans.join('; '),
        plan.indexOnly ? 'yes' : '**no**',
      ]);
    }
  }
  return table(['stored topics', 'statement', 'server execution p50 / p99', 'scans', 'index access only'], rows);
}

function planBlocks(plans: Plan[]): string {
  return plans
    .map((plan) => [`#### ${plan.title}`, '', '```sql', plan.statement, '```', '', '```', plan.text, '```'].join('\n'))
    .join('\n\n');
}

function policyDetails(policy: NonNullable<BenchResults['policy']>): string {
  const rows = (['send', 'read', 'acknowledge'] as const).map((operation) => {
    const on = planOf(policy.onPlans, operation);
    const off = planOf(policy.offPlans, operation);
    const serverCost = on !== undefined && off !== undefined ? `${((on.execution.p50 - off.execution.p50) * 1000).toFixed(0)} µs` : 'n/a';
    return [
      operationName(operation),
      formatMs(on?.execution.p50 ?? Number.NaN),
      formatMs(off?.execution.p50 ?? Number.NaN),
      serverCost,
      formatMs(policy.on[operation].p50),
      formatMs(policy.off[operation].p50),
      `${((policy.on[operation].p50 - policy.off[operation].p50) * 1000).toFixed(0)} µs`,
    ];
  });
  return table(
    ['operation', 'server p50, RLS on', 'server p50, RLS off', 'policy cost (server)', 'request p50, RLS on', 'request p50, RLS off', 'difference (request)'],
    rows,
  );
}

export function renderSection(results: BenchResults): string {
  const { options } = results;
  const parts: string[] = [
    SECTION_HEADING,
    '',
    `Command: \`${results.command}\`, finished ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    '',
    `Machine: ${results.machine}. The cores were shared with other work during the run, with a one-minute load average between ${results.loadRange.min.toFixed(1)} and ${results.loadRange.max.toFixed(1)}. ` +
      'Runs of this command minutes apart on this machine gave figures up to 3 times apart, most for the multi-connection send and claim runs, so read single figures as indications; each baseline ran right next to its figure, under the same load.',
    '',
    'Setup: a throwaway cluster with default server settings, prepared with the bootstrap and every migration in `supabase/migrations`. ' +
      'Users are rows of `auth.users`; each request runs in its own transaction that sets the role `authenticated` and `request.jwt.claims` first, as PostgREST does. ' +
      'Baselines run as the superuser on tables in `bench_bare` with the same columns, defaults and indexes but no constraints, policies or triggers. ' +
      `The per-pair rate limits were raised for every run through their documented settings (\`topic_rate_limit_max\` and \`claim_rate_limit_max\` set to ${formatCount(1_000_000_000)} in \`private.settings\`): with the defaults (60 topics per second per sender and recipient, 6 claims per 10 minutes per caller and target) a benchmark pair would be stopped by design within a second.`,
    '',
    '### Summary',
    '',
    table(['figure', 'Parley', 'baseline', 'ratio', 'target', 'verdict'], summaryRows(results)),
  ];

  const notes = findings(results);
  if (notes.length > 0) parts.push('', '### Findings', '', ...notes.map((note) => `- ${note}`));

  if (results.send.length > 0) {
    parts.push(
      '',
      '### Send and acknowledge',
      '',
      `Each connection is its own sender and recipient pair. A round is ${SENDS_PER_ROUND} sends, one read of the recipient's first inbox page (up to 100 topics) and one acknowledgement of everything read; topics/s counts topics sent and acknowledged over ${options.sendSeconds} s per run. ` +
        'Parley sends are inserts into `chat_topics` as the sender (policy, limits trigger, broadcast trigger into `realtime.messages`) and acknowledgements are `acknowledge_topics` calls as the recipient. ' +
          'The local stack\'s `realtime.send` also sends a NOTIFY; the hosted variant replaces it for its runs with the same function without the NOTIFY, as hosted Supabase sends broadcasts. ' +
          'The baseline runs the bare statements in autocommit; the PostgREST-style transaction runs them after the same begin and set_config round trip as a Parley request, so the gap between it and Parley is the work of the policies, triggers and functions.',
      '',
      sendDetails(results),
    );
  }

  if (results.claims.length > 0) {
    parts.push(
      '',
      '### Prekey claims under contention',
      '',
      `${options.claimers} connections claim concurrently, each as its own user, until every one-time key is handed out. A claim takes one one-time EC key and one one-time KEM key. ` +
        'The keys were stored by the superuser, because `publish_prekeys` caps stored keys at 1,000 per kind. ' +
        'Handed out twice counts key ids returned by more than one claim; lost counts keys neither returned nor left in the table.',
      '',
      claimDetails(results),
      '',
      planBlocks(results.claimPlans),
    );
  }

  if (results.purge !== undefined) {
    parts.push(
      '',
      '### Purge at scale',
      '',
      `${formatCount(options.purgeStale)} topics past retention among ${formatCount(options.purgeFresh)} fresh ones across ${formatCount(options.profiles)} profiles, loaded in created_at order as topics arrive over time, so the stale ones fill the table's first pages, then vacuumed, analyzed and checkpointed. ` +
        `\`purge_stale_topics()\` is called back to back until a call deletes less than a batch, while one sender inserts at ${options.senderRate}/s to random recipients; its baseline is the same sender for ${options.senderSeconds} s just before the purge.`,
      '',
      purgeDetails(results.purge),
    );
  }

  if (results.growth.length > 0) {
    const largest = results.growth.at(-1) as GrowthStep;
    parts.push(
      '',
      '### Growth',
      '',
      `Topics spread at random over ${formatCount(options.profiles)} profiles. ${options.growthRounds} rounds per size on one connection, each a send, a read of the recipient's first page and the acknowledgement of the topic just sent, so the table keeps its size. ` +
        'The measured inboxes hold 20 topics at every size, so the first page returns the same rows; the rest of the topics sit in the other inboxes. Every size was vacuumed, analyzed and checkpointed after loading. ' +
          'Request latencies include the client, the four round trips of a PostgREST-style request and the commit; the server execution times are the medians of 40 runs of `explain (analyze, buffers)` of each statement (triggers included, rolled back), which the shared cores disturb much less.',
      '',
      growthDetails(results),
      '',
      ...(largest.topics < 10_000_000
        ? ['The 10,000,000-topic size runs with `npm run bench:db -- --with-10m`; it was not part of this run.', '']
        : []),
      'Send latency by the recipient\'s pending topics, at the largest size: the limits trigger counts them, up to `inbox_max_pending_topics`.',
      '',
      table(
        ['pending topics', 'send p50', 'send p99', 'send mean'],
        results.fullerInbox.map((row) => [formatCount(row.pending), ...latencyCells(row.latencies)]),
      ),
      '',
      'Scans of the hot statements at each size:',
      '',
      scanSummary(results),
      '',
      `Plans at ${formatCount(largest.topics)} topics (\`explain (analyze, buffers)\`, rolled back):`,
      '',
      planBlocks(largest.plans),
    );
  }

  if (results.policy !== undefined) {
    parts.push(
      '',
      '### Policy cost',
      '',
      `The growth rounds and the statements' \`explain (analyze)\` at ${formatCount(results.policy.topics)} topics as the role \`authenticated\`, with row level security on \`chat_topics\` on and then off (\`alter table ... disable row level security\`), alternating in 4 blocks per state. Triggers and grants stay the same.`,
      '',
      policyDetails(results.policy),
    );
  }

  return parts.join('\n');
}

/** Replaces the Database section of the page, or appends it; creates the page when it is missing. */
export async function writeSection(path: string, section: string): Promise<void> {
  const page = existsSync(path) ? await readFile(path, 'utf8') : '# Benchmark results\n';
  const lines = page.split('\n');
  const start = lines.findIndex((line) => line.trim() === SECTION_HEADING);
  if (start === -1) {
    await writeFile(path, `${page.trimEnd()}\n\n${section}\n`);
    return;
  }
  let end = lines.findIndex((line, index) => index > start && /^## /.test(line));
  if (end === -1) end = lines.length;
  const before = lines.slice(0, start).join('\n').trimEnd();
  const after = lines.slice(end).join('\n').trim();
  await writeFile(path, `${before}\n\n${section}\n${after === '' ? '' : `\n${after}\n`}`);
}
