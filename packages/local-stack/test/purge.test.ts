import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../src/index.ts';
import { externalTarget, randomBase64url, waitFor } from './support/stack.ts';

let root: string;
let stack: Stack;

beforeAll(async () => {
  if (externalTarget) return;
  root = await mkdtemp(join(tmpdir(), 'parley-purge-'));
  await chmod(root, 0o755);
  await mkdir(join(root, 'functions'));
  stack = await startStack({ dataDir: join(root, 'data'), port: 0, logLevel: 'warn', functionsDir: join(root, 'functions'), purgeIntervalMs: 200 });
});

afterAll(async () => {
  await stack?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe.skipIf(externalTarget)('scheduled purge', () => {
  it('deletes stale topics without pg_cron and keeps fresh ones', async () => {
    const sql = postgres(stack.dbUrl, { max: 1, onnotice: () => undefined });
    try {
      const [cron] = await sql`select count(*)::int as n from pg_extension where extname = 'pg_cron'`;
      expect(cron?.n).toBe(0);

      const profiles: string[] = [];
      for (let index = 0; index < 2; index++) {
        const [user] = await sql<{ id: string }[]>`insert into auth.users (id, aud, role) values (${randomUUID()}, 'authenticated', 'authenticated') returning id`;
        const profile = `purge-${index}-${randomUUID().slice(0, 8)}`;
        await sql`insert into public.chat_participants (profile, payload, owner_id) values (${profile}, ${sql.json({ v: 1, identityKey: randomBase64url(32) })}, ${user?.id as string})`;
        profiles.push(profile);
      }
      const [from, to] = profiles as [string, string];
      // Replica mode skips the rate limit trigger, which would stop 250 topics from one sender.
      await sql.begin(async (transaction) => {
        await transaction`set local session_replication_role = replica`;
        await transaction`insert into public.chat_topics (from_profile, to_profile, payload, created_at)
                          select ${from}, ${to}, '{"v": 1, "type": "message"}'::jsonb, now() - interval '400 days' from generate_series(1, 250)`;
      });
      await sql`insert into public.chat_topics (from_profile, to_profile, payload) values (${from}, ${to}, '{"v": 1, "type": "message"}'::jsonb)`;

      await waitFor(async () => {
        const [row] = await sql`select count(*)::int as n from public.chat_topics where to_profile = ${to}`;
        return row?.n === 1;
      }, 15_000, 'the purge of 250 stale topics');
      const [fresh] = await sql`select count(*)::int as n from public.chat_topics where to_profile = ${to} and created_at > now() - interval '1 day'`;
      expect(fresh?.n).toBe(1);
    } finally {
      await sql.end();
    }
  });
});
