import type { Sql } from 'postgres';

/** Identity of a statement: the token's role and claims, as PostgREST and Realtime set them. */
export interface RoleContext {
  role: string;
  claims: Record<string, unknown>;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** Extra transaction-local settings, such as `realtime.topic`. */
  settings?: Record<string, string>;
}

export interface Statement {
  text: string;
  params: unknown[];
}

/** Statement timeout inside role-switched transactions, so one request cannot hold a connection forever. */
const STATEMENT_TIMEOUT = '10s';

/**
 * Runs `statements` in one transaction as `context.role` with `request.jwt.claims` set, and
 * returns each statement's rows. BEGIN, the settings, the statements and COMMIT are pipelined on
 * one reserved connection, so a request costs one round trip to PostgreSQL. When any statement
 * fails, PostgreSQL aborts the transaction, the final COMMIT becomes a rollback, and the first
 * error is thrown. With `rollback` set the transaction is always rolled back.
 */
export async function runAsRole(
  sql: Sql,
  context: RoleContext,
  statements: Statement[],
  options: { rollback?: boolean } = {},
): Promise<Record<string, unknown>[][]> {
  const settingNames = ['role', 'request.jwt.claims', 'request.method', 'request.path', 'request.headers', 'statement_timeout'];
  const settingValues = [
    context.role,
    JSON.stringify(context.claims),
    context.method ?? '',
    context.path ?? '',
    JSON.stringify(context.headers ?? {}),
    STATEMENT_TIMEOUT,
  ];
  for (const [name, value] of Object.entries(context.settings ?? {})) {
    settingNames.push(name);
    settingValues.push(value);
  }
  const settingsText =
    'select ' + settingNames.map((_, index) => `set_config($${2 * index + 1}, $${2 * index + 2}, true)`).join(', ');
  const settingsParams = settingNames.flatMap((name, index) => [name, settingValues[index]]);

  const connection = await sql.reserve();
  try {
    const pending = [
      connection.unsafe('begin'),
      connection.unsafe(settingsText, settingsParams as string[], { prepare: true }),
      ...statements.map((statement) => connection.unsafe(statement.text, statement.params as never[], { prepare: true })),
      connection.unsafe(options.rollback === true ? 'rollback' : 'commit'),
    ];
    const results = await Promise.allSettled(pending);

    const failure = results.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      await connection.unsafe('rollback').catch(() => undefined);
      throw (failure as PromiseRejectedResult).reason;
    }

    return results
      .slice(2, -1)
      .map((result) => [...((result as PromiseFulfilledResult<Record<string, unknown>[]>).value)]);
  } finally {
    connection.release();
  }
}
