import assert from "node:assert/strict";

import acknowledgeTopics from "../../acknowledge-topics/handler.ts";
import { type ErrorBody, post } from "../support/http.ts";
import { createProfile, type TestProfile } from "../support/profiles.ts";
import { admin, asUser, createUser } from "../support/stack.ts";

const testOptions = { sanitizeOps: false, sanitizeResources: false };

/**
 * Sends topics from one profile to another as the sender, as a client does
 * over REST, and returns all topic ids between the two. The sender may not
 * read what it sent, so the ids are read as the superuser.
 */
async function sendTopics(from: TestProfile, to: TestProfile, count: number): Promise<number[]> {
  await asUser(from.user, (sql) =>
    sql`
      insert into public.chat_topics (from_profile, to_profile, payload)
      select ${from.profile}, ${to.profile}, jsonb_build_object('v', 1, 'type', 'message', 'n', n)
      from generate_series(1, ${count}::integer) as n
    `);

  const rows = await admin`
    select id from public.chat_topics
    where from_profile = ${from.profile} and to_profile = ${to.profile}
    order by id
  `;
  return rows.map((row) => Number(row["id"]));
}

async function existingTopicIds(ids: number[]): Promise<number[]> {
  const rows = await admin`select id from public.chat_topics where id = any(${ids.map(String)}::bigint[]) order by id`;
  return rows.map((row) => Number(row["id"]));
}

Deno.test({
  name: "acknowledge deletes own topics",
  ...testOptions,
  async fn() {
    const alice = await createProfile("ack-alice");
    const bob = await createProfile("ack-bob");
    const ids = await sendTopics(alice, bob, 3);

    const { status, body } = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", bob.user.token, {
      topicIds: ids.slice(0, 2),
    });

    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body, { acknowledged: ids.slice(0, 2) });
    assert.deepEqual(await existingTopicIds(ids), ids.slice(2));
  },
});

Deno.test({
  name: "acknowledge again is harmless",
  ...testOptions,
  async fn() {
    const alice = await createProfile("again-alice");
    const bob = await createProfile("again-bob");
    const ids = await sendTopics(alice, bob, 2);

    const first = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", bob.user.token, { topicIds: ids });
    const second = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", bob.user.token, { topicIds: ids });

    assert.deepEqual(first.body, { acknowledged: ids });
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, { acknowledged: [] });
  },
});

Deno.test({
  name: "other profiles' topics stay",
  ...testOptions,
  async fn() {
    const alice = await createProfile("other-alice");
    const bob = await createProfile("other-bob");
    const mallory = await createProfile("other-mallory");
    const bobsIds = await sendTopics(alice, bob, 3);
    const mallorysIds = await sendTopics(alice, mallory, 1);

    // Mallory names Bob's topics: nothing of Bob's is deleted.
    const stranger = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", mallory.user.token, {
      topicIds: [...bobsIds, ...mallorysIds],
    });
    assert.equal(stranger.status, 200);
    assert.deepEqual(stranger.body, { acknowledged: mallorysIds });
    assert.deepEqual(await existingTopicIds(bobsIds), bobsIds);

    // The sender cannot acknowledge what it sent either.
    const sender = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", alice.user.token, { topicIds: bobsIds });
    assert.deepEqual(sender.body, { acknowledged: [] });
    assert.deepEqual(await existingTopicIds(bobsIds), bobsIds);

    // A user without a profile deletes nothing.
    const outsider = await createUser();
    const response = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", outsider.token, { topicIds: bobsIds });
    assert.ok(response.status === 200 || response.status === 404, `status ${response.status}`);
    assert.deepEqual(await existingTopicIds(bobsIds), bobsIds);
  },
});

Deno.test({
  name: "unknown ids are ignored",
  ...testOptions,
  async fn() {
    const alice = await createProfile("unknown-alice");
    const bob = await createProfile("unknown-bob");
    const ids = await sendTopics(alice, bob, 1);
    const unknownId = 9_007_199_254_740_000;

    const { status, body } = await post<{ acknowledged: number[] }>(acknowledgeTopics, "acknowledge-topics", bob.user.token, {
      topicIds: [unknownId, ids[0]!, ids[0]!],
    });

    assert.equal(status, 200);
    assert.deepEqual(body, { acknowledged: ids });
  },
});

Deno.test({
  name: "id list bounds are enforced",
  ...testOptions,
  async fn() {
    const bob = await createProfile("bounds-bob");
    const thousand = Array.from({ length: 1000 }, (_, index) => index + 1);

    const full = await post(acknowledgeTopics, "acknowledge-topics", bob.user.token, { topicIds: thousand });
    assert.equal(full.status, 200, JSON.stringify(full.body));

    const oversized = await post<ErrorBody>(acknowledgeTopics, "acknowledge-topics", bob.user.token, { topicIds: [...thousand, 1001] });
    assert.equal(oversized.status, 400);
    assert.equal(oversized.body.error.code, "batch_too_large");

    const cases: unknown[] = [{}, { topicIds: [] }, { topicIds: "1,2" }, { topicIds: [0] }, { topicIds: [1.5] }, { topicIds: ["1"] }];
    for (const body of cases) {
      const response = await post<ErrorBody>(acknowledgeTopics, "acknowledge-topics", bob.user.token, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.error.code, "invalid_request", JSON.stringify(body));
    }
  },
});
