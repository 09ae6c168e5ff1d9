import type { Sql } from 'postgres';
import type { Claims } from './tokens.ts';

export interface ChannelPermissions {
  read: boolean;
  write: boolean;
}

/**
 * Decides whether a client may read from and write to a private channel, the way Supabase
 * Realtime does. In a transaction that is always rolled back, a probe row for the topic is
 * written to realtime.messages with the server's rights. Then, as the token's role with
 * `request.jwt.claims` and `realtime.topic` set, the select policies decide whether the client
 * can read a broadcast row of the topic, and the insert policies whether it may add one.
 */
export async function authorizeChannel(sql: Sql, subtopic: string, role: string, claims: Claims): Promise<ChannelPermissions> {
  const connection = await sql.reserve();
  try {
    await connection.unsafe('begin');
    await connection.unsafe(
      `insert into realtime.messages (topic, extension, private, payload) values ($1, 'broadcast', true, '{}'::jsonb)`,
      [subtopic],
    );
    await connection.unsafe(
      `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
              set_config('realtime.topic', $3, true), set_config('statement_timeout', '5s', true)`,
      [role, JSON.stringify(claims), subtopic],
    );

    const readRows = await connection.unsafe(
      `select 1 from realtime.messages where topic = $1 and extension = 'broadcast' limit 1`,
      [subtopic],
    );

    await connection.unsafe('savepoint write_check');
    let write = true;
    try {
      await connection.unsafe(
        `insert into realtime.messages (topic, extension, private, payload) values ($1, 'broadcast', true, '{}'::jsonb)`,
        [subtopic],
      );
    } catch (error) {
      if ((error as { code?: string }).code !== '42501') throw error;
      write = false;
    }
    await connection.unsafe('rollback to savepoint write_check');

    return { read: readRows.length > 0, write };
  } finally {
    await connection.unsafe('rollback').catch(() => undefined);
    connection.release();
  }
}
