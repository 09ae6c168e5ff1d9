// Prekey claims under contention: concurrent claimers take one-time keys
// through claim_prekey_bundle, against the bare `delete ... returning` pick
// on a table of the same shape, and every handed-out key is checked for
// duplicates and losses.
import { type Actor, type Sql, type TransactionSql, asUser, connect, randomKey } from './db.ts';
import { Latencies } from './stats.ts';

export interface ClaimOutcome {
  profile: string;
  ecKeyId: number | null;
  kemKeyId: number | null;
  lastResort: boolean;
}

export interface ClaimRun {
  /** parley: claim_prekey_bundle as PostgREST runs it. bare: the bare pick in autocommit. bare-transaction: the bare pick in a transaction that first sets the JWT claims. */
  variant: 'parley' | 'bare' | 'bare-transaction';
  scenario: string;
  claimers: number;
  claims: number;
  claimsPerSecond: number;
  latency: Latencies;
  /** Keys of one kind handed out more than once, both kinds together. */
  duplicates: number;
  /** Keys neither handed out nor left in the table. */
  lost: number;
  /** Keys still stored that were also handed out. */
  handedAndStored: number;
  /** Claims that got no one-time EC key. */
  withoutEcKey: number;
  lastResort: number;
  remainingEc: number;
  remainingKem: number;
}

/** Creates bench_bare.prekeys with chat_prekeys' columns, defaults and indexes, without checks, policies or triggers. */
export async function createBarePrekeys(sql: Sql): Promise<void> {
  await sql`create schema if not exists bench_bare`;
  await sql`drop table if exists bench_bare.prekeys`;
  await sql`create table bench_bare.prekeys (like public.chat_prekeys including defaults including identity including indexes)`;
}

/**
 * Stores a signed EC prekey, a last-resort KEM prekey and `keys` one-time EC
 * and one-time KEM prekeys (key ids 1 to keys) for each profile in
 * chat_prekeys. The keys are inserted as the superuser, which bypasses
 * publish_prekeys' per-call and stored caps.
 */
export async function storePrekeys(sql: Sql, profiles: string[], keys: number): Promise<void> {
  const ecKey = randomKey(32);
  const kemKey = randomKey(1568);
  const signature = randomKey(64);

  await sql`
    insert into public.chat_prekeys (profile, kind, key_id, public_key, signature)
    select p, 'signed_ec'::public.prekey_kind, 1, ${ecKey}, ${signature} from unnest(${profiles}::text[]) p
    union all
    select p, 'last_resort_kem'::public.prekey_kind, 1, ${kemKey}, ${signature} from unnest(${profiles}::text[]) p
    union all
    select p, 'one_time_ec'::public.prekey_kind, g, ${ecKey}, null from unnest(${profiles}::text[]) p, generate_series(1, ${keys}::integer) g
    union all
    select p, 'one_time_kem'::public.prekey_kind, g, ${kemKey}, ${signature} from unnest(${profiles}::text[]) p, generate_series(1, ${keys}::integer) g
  `;
  await sql`vacuum (analyze) public.chat_prekeys`;
}

/** Replaces the profiles' keys in bench_bare.prekeys with copies of their keys in chat_prekeys. */
export async function copyPrekeysToBare(sql: Sql, profiles: string[]): Promise<void> {
  await sql`delete from bench_bare.prekeys where profile = any(${profiles}::text[])`;
  await sql`
    insert into bench_bare.prekeys (created_at, profile, kind, key_id, public_key, signature)
    select created_at, profile, kind, key_id, public_key, signature
    from public.chat_prekeys where profile = any(${profiles}::text[])
  `;
  await sql`vacuum (analyze) bench_bare.prekeys`;
}

interface Bundle {
  oneTimePrekey: { keyId: number } | null;
  kemPrekey: { keyId: number; lastResort: boolean };
}

async function parleyClaim(sql: Sql, claimer: Actor, target: string): Promise<ClaimOutcome> {
  const [row] = await asUser(sql, claimer, (tx) => tx<{ bundle: Bundle }[]>`select public.claim_prekey_bundle(${target}) as bundle`);
  if (row === undefined) throw new Error(`claim_prekey_bundle(${target}) returned no row.`);
  const bundle = row.bundle;
  return {
    profile: target,
    ecKeyId: bundle.oneTimePrekey?.keyId ?? null,
    kemKeyId: bundle.kemPrekey.lastResort ? null : bundle.kemPrekey.keyId,
    lastResort: bundle.kemPrekey.lastResort,
  };
}

/** Deletes one one-time EC and one one-time KEM key in one statement with `for update skip locked`: the bare pick. */
async function barePick(sql: Sql | TransactionSql, target: string): Promise<ClaimOutcome> {
  const [row] = await sql<{ ec_key_id: number | null; kem_key_id: number | null }[]>`
    with ec as (
      delete from bench_bare.prekeys k
      where k.id = (
        select c.id from bench_bare.prekeys c
        where c.profile = ${target} and c.kind = 'one_time_ec'
        order by c.key_id limit 1
        for update skip locked
      )
      returning k.key_id, k.public_key
    ), kem as (
      delete from bench_bare.prekeys k
      where k.id = (
        select c.id from bench_bare.prekeys c
        where c.profile = ${target} and c.kind = 'one_time_kem'
        order by c.key_id limit 1
        for update skip locked
      )
      returning k.key_id, k.public_key, k.signature
    )
    select ec.key_id as ec_key_id, ec.public_key as ec_public_key,
           kem.key_id as kem_key_id, kem.public_key as kem_public_key, kem.signature as kem_signature
    from (select 1) one
    left join ec on true
    left join kem on true
  `;
  return { profile: target, ecKeyId: row?.ec_key_id ?? null, kemKeyId: row?.kem_key_id ?? null, lastResort: row?.kem_key_id == null };
}

function bareClaim(sql: Sql, claimer: Actor, target: string, inTransaction: boolean): Promise<ClaimOutcome> {
  if (!inTransaction) return barePick(sql, target);
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${claimer.claims}, true)`;
    return barePick(tx, target);
  }) as Promise<ClaimOutcome>;
}

function countDuplicates(outcomes: ClaimOutcome[], key: 'ecKeyId' | 'kemKeyId'): { handed: Set<string>; duplicates: number } {
  const handed = new Set<string>();
  let duplicates = 0;
  for (const outcome of outcomes) {
    const keyId = outcome[key];
    if (keyId === null) continue;
    const name = `${outcome.profile}/${keyId}`;
    if (handed.has(name)) duplicates += 1;
    handed.add(name);
  }
  return { handed, duplicates };
}

/**
 * Runs one claim per entry of `targets` with `claimers` concurrent
 * connections, then checks the handed-out keys against what is left: every
 * one of `keysPerProfile` keys per profile and kind must be handed out once
 * or still stored.
 */
export async function runClaims(
  url: string,
  superuser: Sql,
  options: { variant: ClaimRun['variant']; scenario: string; claimers: Actor[]; targets: string[]; keysPerProfile: number },
  progress: (done: number) => void,
): Promise<ClaimRun> {
  const { variant, claimers, targets } = options;
  const latency = new Latencies();
  const outcomes: ClaimOutcome[] = [];
  const clients = claimers.map(() => connect(url));
  let next = 0;
  let reported = 0;

  try {
    await Promise.all(clients.map((client) => client`select 1`));
    const start = performance.now();
    await Promise.all(
      clients.map(async (client, index) => {
        const claimer = claimers[index] as Actor;
        for (let target = targets[next++]; target !== undefined; target = targets[next++]) {
          const claimTarget = target;
          outcomes.push(
            await latency.time(() => (variant === 'parley' ? parleyClaim(client, claimer, claimTarget) : bareClaim(client, claimer, claimTarget, variant === 'bare-transaction'))),
          );
          if (outcomes.length - reported >= 2000) {
            reported = outcomes.length;
            progress(reported);
          }
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;

    const table = variant === 'parley' ? 'public.chat_prekeys' : 'bench_bare.prekeys';
    const profiles = [...new Set(targets)];
    const remaining = await superuser.unsafe<{ profile: string; kind: string; key_id: number }[]>(
      `select profile, kind::text, key_id from ${table} where profile = any($1::text[]) and kind in ('one_time_ec', 'one_time_kem')`,
      [profiles],
    );
    const ec = countDuplicates(outcomes, 'ecKeyId');
    const kem = countDuplicates(outcomes, 'kemKeyId');
    let handedAndStored = 0;
    let remainingEc = 0;
    let remainingKem = 0;
    for (const row of remaining) {
      const handed = row.kind === 'one_time_ec' ? ec.handed : kem.handed;
      if (handed.has(`${row.profile}/${row.key_id}`)) handedAndStored += 1;
      if (row.kind === 'one_time_ec') remainingEc += 1;
      else remainingKem += 1;
    }
    const initial = profiles.length * options.keysPerProfile;

    return {
      variant,
      scenario: options.scenario,
      claimers: claimers.length,
      claims: outcomes.length,
      claimsPerSecond: outcomes.length / seconds,
      latency,
      duplicates: ec.duplicates + kem.duplicates,
      lost: initial - ec.handed.size - remainingEc + (initial - kem.handed.size - remainingKem) + handedAndStored,
      handedAndStored,
      withoutEcKey: outcomes.filter((outcome) => outcome.ecKeyId === null).length,
      lastResort: outcomes.filter((outcome) => outcome.lastResort).length,
      remainingEc,
      remainingKem,
    };
  } finally {
    await Promise.all(clients.map((client) => client.end({ timeout: 5 })));
  }
}
