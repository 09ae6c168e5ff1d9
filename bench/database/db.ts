// Clients, PostgREST-style user transactions and bulk fixtures for the
// database benchmarks.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

/** A signed-in user and the profile it owns. */
export interface Actor {
  profile: string;
  userId: string;
  /** JSON text of the JWT claims PostgREST would set for this user. */
  claims: string;
}

/** Opens a client with `max` connections that ignores notices. */
export function connect(url: string, max = 1): Sql {
  return postgres(url, { max, onnotice: () => undefined, idle_timeout: 0, connect_timeout: 30 });
}

/**
 * Runs `work` in a transaction as `actor`, the way PostgREST runs a request:
 * one statement sets the role and the JWT claims for the transaction only
 * (set_config(..., true) is `set local`), then the request's statement runs.
 */
export function asUser<T>(sql: Sql, actor: Actor, work: (tx: TransactionSql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${actor.claims}, true)`;
    return work(tx);
  }) as Promise<T>;
}

/** Returns `bytes` random bytes in unpadded base64url, the encoding of every key in the database. */
export function randomKey(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** Identity payload shared by every benchmark profile; the database only checks its format. */
export const IDENTITY_PAYLOAD = JSON.stringify({ v: 1, identityKey: randomKey(32) });

/**
 * Topic payload of a short Double Ratchet message: the envelope fields the
 * database checks plus 256 bytes of base64url ciphertext, 400 bytes of JSON.
 */
export const TOPIC_PAYLOAD = JSON.stringify({
  v: 1,
  type: 'message',
  header: randomKey(40),
  ciphertext: randomKey(192),
});

export function profileName(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(6, '0')}`;
}

/**
 * Creates auth users and their profiles `prefix000001` to `prefix<count>`
 * in batches, through the table's own checks and triggers.
 */
export async function createProfiles(
  sql: Sql,
  prefix: string,
  count: number,
  progress: (done: number) => void = () => undefined,
): Promise<void> {
  const batch = 20_000;
  for (let from = 1; from <= count; from += batch) {
    const to = Math.min(count, from + batch - 1);
    await sql`
      with users as (
        insert into auth.users (id, aud, role, email)
        select gen_random_uuid(), 'authenticated', 'authenticated', ${prefix} || lpad(i::text, 6, '0') || '@bench.invalid'
        from generate_series(${from}::integer, ${to}::integer) i
        returning id, email
      )
      insert into public.chat_participants (profile, payload, owner_id)
      select split_part(users.email, '@', 1), ${IDENTITY_PAYLOAD}::text::jsonb, users.id
      from users
    `;
    progress(to);
  }
}

/** Loads the actors of the given profiles, in the order given. */
export async function loadActors(sql: Sql, profiles: string[]): Promise<Actor[]> {
  const rows = await sql<{ profile: string; owner_id: string }[]>`
    select p.profile, p.owner_id from public.chat_participants p where p.profile = any(${profiles}::text[])
  `;
  const byProfile = new Map(rows.map((row) => [row.profile, row.owner_id]));
  return profiles.map((profile) => {
    const userId = byProfile.get(profile);
    if (userId === undefined) throw new Error(`Benchmark profile ${profile} is missing from chat_participants.`);
    return { profile, userId, claims: JSON.stringify({ sub: userId, role: 'authenticated', aud: 'authenticated' }) };
  });
}

export interface TopicLoad {
  count: number;
  /** Profile name prefix; senders and recipients are drawn from indexes firstProfile to lastProfile. */
  prefix: string;
  firstProfile: number;
  lastProfile: number;
  /**
   * SQL expression for created_at, evaluated per row, where `g` is the row's
   * position in the load (1 to count). Make it grow with `g` for topics that
   * arrive over time, so their rows sit in created_at order on disk.
   */
  createdAt: string;
}

/**
 * Bulk-loads topics between random profiles as the superuser, with
 * session_replication_role = replica so the per-row triggers (limits,
 * broadcast) and foreign key checks are skipped: fixtures only, never the
 * measured path.
 */
export async function loadTopics(url: string, load: TopicLoad, progress: (done: number) => void): Promise<void> {
  const sql = connect(url);
  const batch = 250_000;
  const span = load.lastProfile - load.firstProfile + 1;
  const pick = `${sqlLiteral(load.prefix)} || lpad((${load.firstProfile} + floor(random() * ${span}))::integer::text, 6, '0')`;
  try {
    await sql`set session_replication_role = replica`;
    for (let done = 0; done < load.count; ) {
      const rows = Math.min(batch, load.count - done);
      await sql.unsafe(`
        insert into public.chat_topics (created_at, from_profile, to_profile, payload)
        select ${load.createdAt}, ${pick}, ${pick}, ${sqlLiteral(TOPIC_PAYLOAD)}::jsonb
        from generate_series(${done + 1}, ${done + rows}) g
      `);
      done += rows;
      progress(done);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Quotes a text as an SQL string literal. */
export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Raises the per-pair rate limits, through their documented settings, so a
 * benchmark pair can send and claim as fast as the database allows.
 */
export async function raiseRateLimits(sql: Sql, max: number): Promise<void> {
  await sql`
    update private.settings set integer_value = ${max}
    where name in ('topic_rate_limit_max', 'claim_rate_limit_max')
  `;
}

export async function serverVersion(sql: Sql): Promise<string> {
  const [row] = await sql<{ version: string }[]>`select version()`;
  return row?.version ?? 'unknown';
}

export async function vacuumAnalyze(sql: Sql, table: string): Promise<void> {
  await sql.unsafe(`vacuum (analyze) ${table}`);
}

/**
 * Vacuums and analyzes a freshly loaded table, then runs a checkpoint, so
 * the measurement that follows does not share the disk with the checkpointer
 * writing out the bulk load.
 */
export async function settle(sql: Sql, table: string): Promise<void> {
  await vacuumAnalyze(sql, table);
  await sql`checkpoint`;
}
