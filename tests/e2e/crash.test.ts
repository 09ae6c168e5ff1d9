import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { Chat } from '../../packages/client/src/chat/chat.ts';
import { FileStore } from '../../packages/client/src/store/file.ts';
import { closeUser, createUser, database, signedInClient, stack, uniqueProfile, waitFor, type TestUser } from './helpers.ts';

const RECEIVER = join(process.cwd(), 'tests', 'e2e', 'fixtures', 'receiver.ts');

/** A receiver process and the lines it printed so far. */
interface Receiver {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  exited: Promise<number | null>;
}

function startReceiver(env: Record<string, string>): Receiver {
  // Node itself with the tsx loader, so SIGKILL hits the process that runs the chat.
  const child = spawn(process.execPath, ['--import', 'tsx', RECEIVER], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  Object.defineProperty(lines, 'stderr', { get: () => stderr });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) {
        lines.push(`exit ${code}: ${stderr}`);
      }
      resolve(code);
    }),
  );
  return { child, lines, exited };
}

function receivedIds(lines: string[]): string[] {
  return lines.filter((line) => line.startsWith('received ')).map((line) => line.split(' ')[2]!);
}

describe('a client killed between commit and acknowledge', () => {
  const sql = database();
  const users: TestUser[] = [];
  const receivers: Receiver[] = [];
  let folder: string | undefined;

  afterAll(async () => {
    for (const receiver of receivers) {
      receiver.child.kill('SIGKILL');
    }
    await Promise.all(users.map((user) => closeUser(user)));
    await sql.end();
    if (folder !== undefined) {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('loses nothing and shows nothing twice', async () => {
    folder = await mkdtemp(join(tmpdir(), 'parley-crash-'));
    const storePath = join(folder, 'bob.store.json');

    // Bob registers in this process, then his store moves to the child.
    const bobClient = await signedInClient();
    const bobStore = await FileStore.open(storePath);
    const bobProfile = uniqueProfile('bob');
    await new Chat(bobClient, bobStore).register(bobProfile);
    await bobStore.close();
    const { data } = await bobClient.auth.getSession();
    const session = data.session!;

    const alice = await createUser('alice');
    users.push(alice);
    const sent: string[] = [];
    for (let i = 0; i < 60; i++) {
      sent.push((await alice.chat.send(bobProfile, `crash test ${i}`)).id);
    }

    const env = {
      SUPABASE_URL: stack().apiUrl,
      SUPABASE_ANON_KEY: stack().anonKey,
      PARLEY_ACCESS_TOKEN: session.access_token,
      PARLEY_REFRESH_TOKEN: session.refresh_token,
      PARLEY_STORE: storePath,
      PARLEY_PAGE_SIZE: '10',
    };

    // First run: acknowledgements wait an hour, so every commit is followed by the kill instead.
    const first = startReceiver({ ...env, PARLEY_ACK_DELAY_MS: String(3_600_000) });
    receivers.push(first);
    await waitFor(() => receivedIds(first.lines).length >= 25 || first.lines.some((line) => line.startsWith('exit')), 'the first run to receive 25 messages');
    first.child.kill('SIGKILL');
    await first.exited;
    const firstIds = receivedIds(first.lines);
    expect(firstIds.length).toBeGreaterThanOrEqual(25);

    const [afterKill] = await sql`select count(*)::int as n from public.chat_topics where to_profile = ${bobProfile}`;
    expect(afterKill!.n).toBe(60);

    // Second run: normal acknowledgements.
    const second = startReceiver(env);
    receivers.push(second);
    // The first run may have committed one message just before the kill without printing it, and
    // that message is in the history but not emitted again, so 59 shown messages can be complete.
    await waitFor(
      () => firstIds.length + receivedIds(second.lines).length >= sent.length - 1 || second.lines.some((line) => line.startsWith('exit')),
      () =>
        `the second run to receive the rest; first run:\n${first.lines.join('\n')}\nsecond run:\n${second.lines.join('\n')}\n${(second.lines as unknown as { stderr: string }).stderr}`,
    );
    await waitFor(async () => {
      const [row] = await sql`select count(*)::int as n from public.chat_topics where to_profile = ${bobProfile}`;
      return row!.n === 0;
    }, 'bob inbox to be empty', 30_000);
    second.child.stdin.write('stop\n');
    expect(await second.exited).toBe(0);

    const secondIds = receivedIds(second.lines);
    const shown = [...firstIds, ...secondIds];
    expect(new Set(shown).size).toBe(shown.length);

    // Messages committed just before the kill but not yet printed are in the store's history.
    const store = await FileStore.open(storePath);
    const history = await store.transaction(async (tx) => (await tx.get(`chat/messages/${alice.profile}`)) as Array<{ id: string }>);
    await store.close();
    expect(history.map((entry) => entry.id)).toEqual(sent);
    expect(sent.filter((id) => !shown.includes(id)).length).toBeLessThanOrEqual(1);
  });
});
