/**
 * PostgreSQL access as the calling user.
 *
 * Each call runs in one transaction that first switches to the token's role
 * and sets `request.jwt.claims`, as PostgREST does, so `auth.uid()`, the
 * grants and every RLS policy apply exactly as they do over REST. The
 * connection comes from `SUPABASE_DB_URL`; prepared statements are off
 * because Supabase's transaction pooler (Supavisor) cannot keep them.
 */
import postgres from "npm:postgres@3.4.10";

import type { Caller } from "./auth.ts";
import { DATABASE_POOL_SIZE } from "./limits.ts";

export type Sql = postgres.Sql;
export type Transaction = postgres.TransactionSql;
export type JsonValue = postgres.JSONValue;

let pool: Sql | undefined;

function connect(): Sql {
  const url = Deno.env.get("SUPABASE_DB_URL");

  if (url === undefined || url === "") {
    throw new Error("SUPABASE_DB_URL is not set, so the function cannot reach the database");
  }

  return postgres(url, {
    prepare: false,
    max: DATABASE_POOL_SIZE,
    idle_timeout: 20,
    connect_timeout: 10,
    connection: { application_name: "parley-edge-functions" },
    onnotice: () => {},
  });
}

/**
 * Runs `work` in one transaction as the caller. `role` and
 * `request.jwt.claims` are set with `set_config(..., true)`, the function
 * form of `set local`, so PostgreSQL resets both when the transaction ends
 * and the next user of the pooled connection starts clean.
 */
export async function runAsCaller<Result>(
  caller: Caller,
  work: (sql: Transaction) => Promise<Result>,
): Promise<Result> {
  pool ??= connect();

  return await pool.begin(async (sql) => {
    await sql`
      select
        set_config('role', ${caller.role}, true),
        set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true)
    `;
    return await work(sql);
  }) as Result;
}

/** Closes the pool; the next call opens a new one. Tests call it to end cleanly. */
export async function closeDatabase(): Promise<void> {
  const current = pool;
  pool = undefined;
  await current?.end({ timeout: 5 });
}
