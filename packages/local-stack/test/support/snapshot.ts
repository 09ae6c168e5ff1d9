import type { Sql } from 'postgres';

/** Digests every row the bad-input and fuzz tests could touch, to prove they changed nothing. */
export async function databaseSnapshot(sql: Sql): Promise<Record<string, string>> {
  const [row] = await sql<Record<string, string>[]>`
    select
      (select coalesce(md5(string_agg(c::text, ',' order by c.id)), '') from public.conformance_canary c) as canary,
      (select coalesce(md5(string_agg(i::text, ',' order by i.id)), '') from public.conformance_items i) as items,
      (select count(*)::text from auth.users) as users,
      (select count(*)::text from auth.refresh_tokens) as refresh_tokens,
      (select count(*)::text from public.chat_participants) as participants,
      (select count(*)::text from public.chat_topics) as topics,
      (select count(*)::text from realtime.messages) as messages,
      (select count(*)::text from pg_class where relnamespace = 'public'::regnamespace) as relations,
      (select count(*)::text from pg_roles) as roles`;
  return row as Record<string, string>;
}
