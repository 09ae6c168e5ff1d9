// Claims one profile's one-time prekeys from several real connections at once
// and checks that each key was handed out exactly once and none was lost.
// This cannot run inside a pgTAP file: pgTAP runs in one transaction on one
// connection. scripts/test-db.ts runs it after the pgTAP files.
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';

export interface ConcurrencyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ClaimConcurrencyOptions {
  /** Makes the profile names of this run unique. */
  runLabel: string;
  /** Parallel callers, each on its own connection. */
  callers?: number;
  /** One-time EC prekeys and, separately, one-time KEM prekeys to publish. */
  keys?: number;
}

interface PublishedKey {
  keyId: number;
  publicKey: string;
  signature?: string;
}

interface Bundle {
  profile: string;
  identity: { v: number; identityKey: string };
  signedPrekey: PublishedKey;
  oneTimePrekey: PublishedKey | null;
  kemPrekey: PublishedKey & { lastResort: boolean };
}

interface CallerLog {
  bundles: Bundle[];
  errors: string[];
}

const UPLOAD_BATCH = 100;
const LAST_RESORT_KEY_ID = 5_000_000;

function randomKey(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function makeEcKey(keyId: number): PublishedKey {
  return { keyId, publicKey: randomKey(32) };
}

function makeSignedKey(keyId: number, bytes: number): PublishedKey {
  return { keyId, publicKey: randomKey(bytes), signature: randomKey(64) };
}

function check(name: string, ok: boolean, detail: string): ConcurrencyCheck {
  return { name, ok, detail };
}

/** Signs in as PostgREST does, for the current transaction only. */
async function actAs(sql: postgres.TransactionSql, userId: string): Promise<void> {
  const claims = JSON.stringify({ sub: userId, role: 'authenticated' });
  await sql`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
}

async function claimUntilExhausted(url: string, userId: string, target: string): Promise<CallerLog> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  const log: CallerLog = { bundles: [], errors: [] };
  try {
    for (;;) {
      let bundle: Bundle;
      try {
        bundle = await sql.begin(async (transaction) => {
          await actAs(transaction, userId);
          const [row] = await transaction`select public.claim_prekey_bundle(${target}) as bundle`;
          return row!.bundle as Bundle;
        }) as Bundle;
      } catch (error) {
        log.errors.push(String(error));
        return log;
      }

      log.bundles.push(bundle);
      if (bundle.oneTimePrekey === null && bundle.kemPrekey.lastResort) return log;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function describeMismatch(expected: Map<number, string>, handedOut: PublishedKey[]): string {
  const seen = new Map<number, number>();
  for (const key of handedOut) seen.set(key.keyId, (seen.get(key.keyId) ?? 0) + 1);

  const duplicates = [...seen].filter(([, times]) => times > 1).map(([keyId]) => keyId);
  const missing = [...expected.keys()].filter((keyId) => !seen.has(keyId));
  const unknown = [...seen.keys()].filter((keyId) => !expected.has(keyId));
  const wrongKey = handedOut.filter((key) => expected.has(key.keyId) && expected.get(key.keyId) !== key.publicKey);
  return `handed out ${handedOut.length}, duplicates [${duplicates.slice(0, 10).join(', ')}], missing [${missing.slice(0, 10).join(', ')}], unknown [${unknown.slice(0, 10).join(', ')}], wrong public key ${wrongKey.length}`;
}

function exactlyOnce(expected: Map<number, string>, handedOut: PublishedKey[]): boolean {
  if (handedOut.length !== expected.size) return false;
  const ids = new Set(handedOut.map((key) => key.keyId));
  if (ids.size !== handedOut.length) return false;
  return handedOut.every((key) => expected.get(key.keyId) === key.publicKey);
}

/**
 * Publishes `keys` one-time EC and KEM prekeys for a new profile, lets
 * `callers` users claim its bundle in parallel until both kinds are used up,
 * and returns one check per property. Everything it creates is deleted again.
 */
export async function runClaimConcurrencyTest(url: string, options: ClaimConcurrencyOptions): Promise<ConcurrencyCheck[]> {
  const callerCount = options.callers ?? 8;
  const keyCount = options.keys ?? 1000;
  const suffix = `${options.runLabel}-${randomBytes(3).toString('hex')}`.toLowerCase();
  const target = `claim-target-${suffix}`;
  const targetUserId = randomUUID();
  const callers = Array.from({ length: callerCount }, (_, index) => ({
    profile: `claim-caller-${index + 1}-${suffix}`,
    userId: randomUUID(),
  }));

  const ecKeys = Array.from({ length: keyCount }, (_, index) => makeEcKey(index + 1));
  const kemKeys = Array.from({ length: keyCount }, (_, index) => makeSignedKey(index + 1, 1568));
  const signedKey = makeSignedKey(1, 32);
  const lastResortKey = makeSignedKey(LAST_RESORT_KEY_ID, 1568);

  const admin = postgres(url, { max: 1, onnotice: () => undefined });
  const userIds = [targetUserId, ...callers.map((caller) => caller.userId)];
  let savedClaimLimit: string | undefined;

  try {
    await admin.begin(async (sql) => {
      for (const [index, userId] of userIds.entries()) {
        const profile = index === 0 ? target : callers[index - 1]!.profile;
        await sql`insert into auth.users (id, aud, role, email) values (${userId}, 'authenticated', 'authenticated', ${`${profile}@example.test`})`;
        await sql`
          insert into public.chat_participants (profile, payload, owner_id)
          values (${profile}, ${sql.json({ v: 1, identityKey: randomKey(32) })}, ${userId})
        `;
      }
    });

    // The per-pair claim limit (6 per 10 minutes by default) would stop each
    // caller long before the keys run out.
    const [setting] = await admin`select integer_value from private.settings where name = 'claim_rate_limit_max'`;
    savedClaimLimit = String(setting!.integer_value);
    await admin`update private.settings set integer_value = 1000000 where name = 'claim_rate_limit_max'`;

    for (let offset = 0; offset < keyCount; offset += UPLOAD_BATCH) {
      const first = offset === 0;
      await admin.begin(async (sql) => {
        await actAs(sql, targetUserId);
        await sql`
          select public.publish_prekeys(
            ${first ? sql.json(signedKey as never) : null}::jsonb,
            ${sql.json(ecKeys.slice(offset, offset + UPLOAD_BATCH) as never)}::jsonb,
            ${sql.json(kemKeys.slice(offset, offset + UPLOAD_BATCH) as never)}::jsonb,
            ${first ? sql.json(lastResortKey as never) : null}::jsonb
          )
        `;
      });
    }

    const logs = await Promise.all(callers.map((caller) => claimUntilExhausted(url, caller.userId, target)));

    const bundles = logs.flatMap((log) => log.bundles);
    const errors = logs.flatMap((log) => log.errors);
    const oneTimeHandedOut = bundles.flatMap((bundle) => (bundle.oneTimePrekey === null ? [] : [bundle.oneTimePrekey]));
    const kemHandedOut = bundles.filter((bundle) => !bundle.kemPrekey.lastResort).map((bundle) => bundle.kemPrekey);
    const lastResortBundles = bundles.filter((bundle) => bundle.kemPrekey.lastResort);
    const expectedEc = new Map(ecKeys.map((key) => [key.keyId, key.publicKey]));
    const expectedKem = new Map(kemKeys.map((key) => [key.keyId, key.publicKey]));
    const callersWithKeys = logs.filter((log) => log.bundles.some((bundle) => bundle.oneTimePrekey !== null)).length;

    const [remaining] = await admin`
      select
        count(*) filter (where kind = 'one_time_ec')::int as ec,
        count(*) filter (where kind = 'one_time_kem')::int as kem
      from public.chat_prekeys
      where profile = ${target}
    `;

    return [
      check('every claim succeeds', errors.length === 0, `${errors.length} errors: ${errors.slice(0, 3).join(' | ')}`),
      check(
        `each of the ${keyCount} one-time EC prekeys is handed out exactly once`,
        exactlyOnce(expectedEc, oneTimeHandedOut),
        describeMismatch(expectedEc, oneTimeHandedOut),
      ),
      check(
        `each of the ${keyCount} one-time KEM prekeys is handed out exactly once`,
        exactlyOnce(expectedKem, kemHandedOut),
        describeMismatch(expectedKem, kemHandedOut),
      ),
      check(
        'bundles without a one-time KEM prekey carry the last-resort KEM prekey',
        lastResortBundles.length > 0 &&
          lastResortBundles.every((bundle) => bundle.kemPrekey.keyId === LAST_RESORT_KEY_ID && bundle.kemPrekey.publicKey === lastResortKey.publicKey),
        `${lastResortBundles.length} last-resort bundles`,
      ),
      check(
        'every bundle carries the published signed prekey',
        bundles.every((bundle) => bundle.signedPrekey.keyId === signedKey.keyId && bundle.signedPrekey.publicKey === signedKey.publicKey),
        `${bundles.length} bundles`,
      ),
      check('no one-time prekey is left in the database', remaining!.ec === 0 && remaining!.kem === 0, `left: ${remaining!.ec} EC, ${remaining!.kem} KEM`),
      check(`all ${callerCount} callers received one-time prekeys`, callersWithKeys === callerCount, `${callersWithKeys} callers received keys`),
    ];
  } finally {
    await admin`delete from auth.users where id = any(${userIds}::uuid[])`;
    if (savedClaimLimit !== undefined) {
      await admin`update private.settings set integer_value = ${savedClaimLimit}::bigint where name = 'claim_rate_limit_max'`;
    }
    await admin.end({ timeout: 5 });
  }
}
