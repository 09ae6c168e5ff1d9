// Checks the NOTIFY that the bootstrap's realtime.send adds for the local
// stack: one notification per committed topic insert on the channel
// realtime_broadcast, none for a rolled-back insert. This needs a listening
// connection next to the writing one, so it cannot run inside a pgTAP file.
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import type { ConcurrencyCheck } from './claim-prekeys.ts';

const CHANNEL = 'realtime_broadcast';
/** Time allowed for a notification to arrive after its commit. */
const DELIVERY_WAIT_MS = 1000;

function check(name: string, ok: boolean, detail: string): ConcurrencyCheck {
  return { name, ok, detail };
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, milliseconds));
}

/** Sends one committed and one rolled-back topic and returns one check per property of the notifications. */
export async function runInboxNotifyTest(url: string): Promise<ConcurrencyCheck[]> {
  const suffix = randomBytes(3).toString('hex');
  const sender = `notify-sender-${suffix}`;
  const recipient = `notify-recipient-${suffix}`;
  const userIds = [randomUUID(), randomUUID()];
  const sql = postgres(url, { max: 2, onnotice: () => undefined });
  const received: Array<Record<string, unknown>> = [];

  try {
    await sql.begin(async (transaction) => {
      for (const [index, profile] of [sender, recipient].entries()) {
        await transaction`insert into auth.users (id) values (${userIds[index]!})`;
        await transaction`insert into public.chat_participants (profile, owner_id) values (${profile}, ${userIds[index]!})`;
      }
    });

    const subscription = await sql.listen(CHANNEL, (payload) => {
      const message = JSON.parse(payload) as Record<string, unknown>;
      if (message.topic === `inbox:${recipient}`) received.push(message);
    });

    let receivedBeforeCommit = 0;
    const [topic] = await sql.begin(async (transaction) => {
      const rows = await transaction`
        insert into public.chat_topics (from_profile, to_profile, payload)
        values (${sender}, ${recipient}, '{"v":1,"type":"message","body":"secret"}')
        returning id, created_at
      `;
      await delay(DELIVERY_WAIT_MS / 2);
      receivedBeforeCommit = received.length;
      return rows;
    });
    await delay(DELIVERY_WAIT_MS);
    const receivedAfterCommit = received.length;

    await sql
      .begin(async (transaction) => {
        await transaction`insert into public.chat_topics (from_profile, to_profile, payload) values (${sender}, ${recipient}, '{"v":1,"type":"message"}')`;
        throw new Error('roll back on purpose');
      })
      .catch(() => undefined);
    await delay(DELIVERY_WAIT_MS);
    await subscription.unlisten();

    const message = received[0];
    const payload = (message?.payload ?? {}) as Record<string, unknown>;
    return [
      check('no notification is sent before the commit', receivedBeforeCommit === 0, `${receivedBeforeCommit} before commit`),
      check('a committed topic sends one notification', receivedAfterCommit === 1, `${receivedAfterCommit} after commit`),
      check('a rolled-back topic sends no notification', received.length === 1, `${received.length} in total`),
      check(
        'the notification names the event and the private flag',
        message?.event === 'topic' && message?.private === true && typeof message?.id === 'string',
        JSON.stringify(message),
      ),
      check(
        'the notification carries the topic id, sender and time but not the payload',
        Number(payload.id) === Number(topic!.id) &&
          payload.from_profile === sender &&
          typeof payload.created_at === 'string' &&
          Object.keys(payload).sort().join(',') === 'created_at,from_profile,id',
        JSON.stringify(payload),
      ),
    ];
  } finally {
    await sql`delete from auth.users where id = any(${userIds}::uuid[])`;
    await sql.end({ timeout: 5 });
  }
}
