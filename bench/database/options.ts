// Command-line options of `npm run bench:db`: data sizes, durations and the
// PostgreSQL binaries. Every size has a default that finishes in a few
// minutes on a 2-core machine.
import type { BinariesKind } from '../../packages/local-stack/src/postgres/binaries.ts';

export interface BenchOptions {
  binaries: BinariesKind;
  /** Profiles (and auth users) behind the purge and growth data. */
  profiles: number;
  /** Seconds each send-and-acknowledge run lasts, per connection count and variant. */
  sendSeconds: number;
  connectionCounts: number[];
  claimers: number;
  /** One-time EC keys, and as many one-time KEM keys, on the single contended profile. */
  claimKeys: number;
  claimProfiles: number;
  /** One-time EC keys, and as many KEM keys, on each of the claimProfiles profiles. */
  keysPerProfile: number;
  purgeStale: number;
  purgeFresh: number;
  /** Inserts per second of the sender that runs beside the purge. */
  senderRate: number;
  /** Seconds the sender runs without the purge, for its baseline latencies. */
  senderSeconds: number;
  growthSizes: number[];
  /** Measured rounds (send, inbox read, acknowledgement) per growth size. */
  growthRounds: number;
  /** Rounds per RLS state in the policy-cost comparison. */
  policyRounds: number;
  resultsPath: string;
  writeResults: boolean;
  seed: number;
  phases: Set<Phase>;
}

export const PHASES = ['send', 'claims', 'purge', 'growth', 'policy'] as const;
export type Phase = (typeof PHASES)[number];

export const USAGE = `Usage: npm run bench:db -- [options]

  --binaries=embedded|system   PostgreSQL 17 from npm (default) or the system's server binaries
  --phases=LIST                comma-separated subset of ${PHASES.join(',')} (default: all)
  --profiles=N                 profiles behind the purge and growth data (default 100000)
  --send-seconds=N             seconds per send-and-acknowledge run (default 5)
  --connections=LIST           connection counts for send and acknowledge (default 1,8,32)
  --claimers=N                 concurrent prekey claimers (default 32)
  --claim-keys=N               one-time keys of each kind on the contended profile (default 10000)
  --claim-profiles=N           profiles in the spread-out claim run (default 1000)
  --keys-per-profile=N         one-time keys of each kind per spread-out profile (default 10)
  --purge-stale=N              topics past retention (default 1000000)
  --purge-fresh=N              topics within retention (default 1000000)
  --sender-rate=N              inserts per second of the sender beside the purge (default 200)
  --sender-seconds=N           seconds of that sender without the purge (default 10)
  --growth=LIST                stored topic counts (default 10000,1000000)
  --with-10m                   adds 10000000 to the growth sizes (takes much longer)
  --growth-rounds=N            measured rounds per growth size (default 400)
  --policy-rounds=N            rounds per RLS state in the policy-cost run (default 400)
  --results=PATH               results page to update (default bench/RESULTS.md)
  --no-write                   print the section without writing the results page
  --seed=N                     seed of the random choices (default 7)
`;

function positiveInteger(name: string, value: string): number {
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(parsed) || parsed < 1) {
    throw new Error(`Invalid --${name}=${value}: expected a positive integer. ${USAGE}`);
  }
  return parsed;
}

function integerList(name: string, value: string): number[] {
  return value.split(',').map((part) => positiveInteger(name, part.trim()));
}

export function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = {
    binaries: 'embedded',
    profiles: 100_000,
    sendSeconds: 5,
    connectionCounts: [1, 8, 32],
    claimers: 32,
    claimKeys: 10_000,
    claimProfiles: 1_000,
    keysPerProfile: 10,
    purgeStale: 1_000_000,
    purgeFresh: 1_000_000,
    senderRate: 200,
    senderSeconds: 10,
    growthSizes: [10_000, 1_000_000],
    growthRounds: 400,
    policyRounds: 400,
    resultsPath: 'bench/RESULTS.md',
    writeResults: true,
    seed: 7,
    phases: new Set(PHASES),
  };
  let with10m = false;

  for (const argument of argv) {
    if (argument === '--help' || argument === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    if (argument === '--no-write') {
      options.writeResults = false;
      continue;
    }
    if (argument === '--with-10m') {
      with10m = true;
      continue;
    }

    const match = /^--([a-z0-9-]+)=(.*)$/.exec(argument);
    if (match === null) throw new Error(`Unknown argument "${argument}": options look like --name=value.\n${USAGE}`);
    const [, name = '', value = ''] = match;

    switch (name) {
      case 'binaries':
        if (value !== 'embedded' && value !== 'system') {
          throw new Error(`Invalid --binaries=${value}: use "embedded" or "system".`);
        }
        options.binaries = value;
        break;
      case 'phases': {
        const phases = value.split(',').map((part) => part.trim());
        for (const phase of phases) {
          if (!(PHASES as readonly string[]).includes(phase)) {
            throw new Error(`Invalid phase "${phase}" in --phases: use a comma-separated subset of ${PHASES.join(',')}.`);
          }
        }
        options.phases = new Set(phases as Phase[]);
        break;
      }
      case 'profiles':
        options.profiles = positiveInteger(name, value);
        break;
      case 'send-seconds':
        options.sendSeconds = positiveInteger(name, value);
        break;
      case 'connections':
        options.connectionCounts = integerList(name, value);
        break;
      case 'claimers':
        options.claimers = positiveInteger(name, value);
        break;
      case 'claim-keys':
        options.claimKeys = positiveInteger(name, value);
        break;
      case 'claim-profiles':
        options.claimProfiles = positiveInteger(name, value);
        break;
      case 'keys-per-profile':
        options.keysPerProfile = positiveInteger(name, value);
        break;
      case 'purge-stale':
        options.purgeStale = positiveInteger(name, value);
        break;
      case 'purge-fresh':
        options.purgeFresh = positiveInteger(name, value);
        break;
      case 'sender-rate':
        options.senderRate = positiveInteger(name, value);
        break;
      case 'sender-seconds':
        options.senderSeconds = positiveInteger(name, value);
        break;
      case 'growth':
        options.growthSizes = integerList(name, value);
        break;
      case 'growth-rounds':
        options.growthRounds = positiveInteger(name, value);
        break;
      case 'policy-rounds':
        options.policyRounds = positiveInteger(name, value);
        break;
      case 'results':
        if (value === '') throw new Error('Invalid --results=: give the path of the results page.');
        options.resultsPath = value;
        break;
      case 'seed':
        options.seed = positiveInteger(name, value);
        break;
      default:
        throw new Error(`Unknown option --${name}.\n${USAGE}`);
    }
  }

  if (with10m && !options.growthSizes.includes(10_000_000)) options.growthSizes.push(10_000_000);
  options.growthSizes.sort((a, b) => a - b);
  if (options.profiles < 100) {
    throw new Error(`Invalid --profiles=${options.profiles}: the growth and purge runs need at least 100 profiles.`);
  }
  return options;
}
