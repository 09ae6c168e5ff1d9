import { afterAll, describe, expect, it } from 'vitest';

import { closeUser, createUser, database, type TestUser } from './helpers.ts';

/** Every encoding of `text` a careless implementation might store. */
function encodings(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  return [text, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')].map((value) =>
    // Encodings of a long string share a middle part with any encoding of it inside a larger text.
    value.slice(4, value.length - 4),
  );
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

describe('stored data', () => {
  const sql = database();
  const users: TestUser[] = [];

  afterAll(async () => {
    await Promise.all(users.map((user) => closeUser(user)));
    await sql.end();
  });

  it('never contains a plaintext', async () => {
    const alice = await createUser('alice');
    const bob = await createUser('bob');
    users.push(alice, bob);
    await alice.chat.start();

    const secrets: string[] = [];
    for (let i = 0; i < 20; i++) {
      const secret = `plaintext-marker-${i}-${crypto.randomUUID()}`;
      secrets.push(secret);
      await alice.chat.send(bob.profile, secret);
      await alice.chat.send(bob.profile, new TextEncoder().encode(`${secret}-binary`), { contentType: 'application/octet-stream' });
    }

    // Bob has not started, so every topic is still stored: scan every table of every schema.
    const tables = await sql<{ schema: string; name: string }[]>`
      select table_schema as schema, table_name as name
      from information_schema.tables
      where table_type = 'BASE TABLE'
        and table_schema not in ('pg_catalog', 'information_schema')`;
    expect(tables.some((table) => table.schema === 'public' && table.name === 'chat_topics')).toBe(true);

    const [pending] = await sql`select count(*)::int as n from public.chat_topics where to_profile = ${bob.profile}`;
    expect(pending!.n).toBe(40);

    const needles = secrets.flatMap((secret) => [...encodings(secret), ...encodings(`${secret}-binary`)]);
    let scannedRows = 0;
    for (const table of tables) {
      const rows = await sql.unsafe(`select t::text as row from ${quote(table.schema)}.${quote(table.name)} t`);
      for (const { row } of rows as unknown as Array<{ row: string }>) {
        scannedRows++;
        for (const needle of needles) {
          if (row.includes(needle)) {
            throw new Error(`plaintext found in ${table.schema}.${table.name}`);
          }
        }
      }
    }
    expect(scannedRows).toBeGreaterThan(40);

    await bob.chat.start();
    await bob.chat.sync();
    expect(bob.received.map((message) => message.text ?? new TextDecoder().decode(message.body))).toEqual(
      secrets.flatMap((secret) => [secret, `${secret}-binary`]),
    );
  });
});
