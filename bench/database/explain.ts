// `explain (analyze, buffers)` of a hot statement, run in a transaction that
// is rolled back, so the statement's writes never land.
import { type Actor, type Sql, type TransactionSql } from './db.ts';
import { Latencies } from './stats.ts';

export interface Plan {
  title: string;
  statement: string;
  /** The plan of the last run. */
  text: string;
  /** Scan nodes of the plan, for example "Index Scan using chats_pkey on chat_topics t". */
  scans: string[];
  /** True when no scan reads a whole table (no Seq Scan). */
  indexOnly: boolean;
  /** Server-side execution time of each run, triggers included, in milliseconds. */
  execution: Latencies;
}

class Rollback extends Error {}

async function explainOnce(sql: Sql, statement: string, actor: Actor | undefined): Promise<string> {
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
  return text;
}

/**
 * Runs `explain (analyze, buffers)` of `statement` `runs` times, as `actor`
 * when given, rolling back each run, and records the server's execution time
 * of every run: a measure of the statement's cost without the client and
 * network round trips.
 */
export async function explainStatement(sql: Sql, title: string, statement: string, actor?: Actor, runs = 1): Promise<Plan> {
  const execution = new Latencies();
  let text = '';
  for (let run = 0; run < runs; run += 1) {
    text = await explainOnce(sql, statement, actor);
    const time = /^Execution Time: ([0-9.]+) ms$/m.exec(text)?.[1];
    if (time === undefined) throw new Error(`The plan of "${title}" has no "Execution Time" line:\n${text}`);
    execution.add(Number(time));
  }

  const scans = text
    .split('\n')
    .map((line) => /(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan|Function Scan|CTE Scan|Tid Scan)[^(]*/.exec(line)?.[0]?.trim())
    .filter((scan): scan is string => scan !== undefined);
  return { title, statement: statement.trim(), text, scans, indexOnly: !scans.some((scan) => scan.startsWith('Seq Scan')), execution };
}
