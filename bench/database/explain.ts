// `explain (analyze, buffers)` of a hot statement, run in a transaction that
// is rolled back, so the statement's writes never land.
import { type Actor, type Sql, type TransactionSql } from './db.ts';

export interface Plan {
  title: string;
  statement: string;
  text: string;
  /** Scan nodes of the plan, for example "Index Scan using chats_pkey on chat_topics t". */
  scans: string[];
  /** True when no scan reads a whole table (no Seq Scan). */
  indexOnly: boolean;
}

class Rollback extends Error {}

/** Runs `explain (analyze, buffers)` of `statement`, as `actor` when given, and rolls back. */
export async function explainStatement(sql: Sql, title: string, statement: string, actor?: Actor): Promise<Plan> {
  let text = '';
  try {
    await sql.begin(async (tx: TransactionSql) => {
      if (actor !== undefined) {
        await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${actor.claims}, true)`;
      }
      const rows = await tx.unsafe<{ 'QUERY PLAN': string }[]>(`explain (analyze, buffers) ${statement}`);
      text = rows.map((row) => row['QUERY PLAN']).join('\n');
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }

  const scans = text
    .split('\n')
    .map((line) => /(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan|Function Scan|CTE Scan|Tid Scan)[^(]*/.exec(line)?.[0]?.trim())
    .filter((scan): scan is string => scan !== undefined);
  return { title, statement: statement.trim(), text, scans, indexOnly: !scans.some((scan) => scan.startsWith('Seq Scan')) };
}
