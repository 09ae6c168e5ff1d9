import assert from "node:assert/strict";

import { MAX_KEYS_PER_UPLOAD } from "../../_shared/limits.ts";
import prekeyBundle from "../../prekey-bundle/handler.ts";
import publishKeys from "../../publish-keys/handler.ts";
import { type ErrorBody, post } from "../support/http.ts";
import {
  createIdentity,
  createKemPrekey,
  createKemPrekeys,
  createOneTimePrekeys,
  createSignedPrekey,
  flipFirstBit,
} from "../support/keys.ts";
import { createProfile, prekeyCounts, publishFullBundle } from "../support/profiles.ts";
import { admin, asUser, createUser } from "../support/stack.ts";

const testOptions = { sanitizeOps: false, sanitizeResources: false };

interface KeyCounts {
  oneTimePrekeys: number;
  kemPrekeys: number;
  signedPrekeyId: number | null;
  lastResortKemPrekeyId: number | null;
}

Deno.test({
  name: "publish stores every key kind",
  ...testOptions,
  async fn() {
    const owner = await createProfile("publish");
    const { status, headers, body } = await post<KeyCounts>(publishKeys, "publish-keys", owner.user.token, {
      action: "publish",
      signedPrekey: createSignedPrekey(owner.identity, 7, "publish"),
      oneTimePrekeys: createOneTimePrekeys(1, 5, "publish"),
      kemPrekeys: createKemPrekeys(owner.identity, 1, 3, "publish"),
      lastResortKemPrekey: createKemPrekey(owner.identity, 99, "publish"),
    });

    assert.equal(status, 200, JSON.stringify(body));
    assert.match(headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(body, { oneTimePrekeys: 5, kemPrekeys: 3, signedPrekeyId: 7, lastResortKemPrekeyId: 99 });
    assert.deepEqual(await prekeyCounts(owner), body);
  },
});

Deno.test({
  name: "publish rotates the signed prekey",
  ...testOptions,
  async fn() {
    const owner = await createProfile("rotate");
    await publishFullBundle(owner, 2, 2);

    const { status, body } = await post<KeyCounts>(publishKeys, "publish-keys", owner.user.token, {
      action: "publish",
      signedPrekey: createSignedPrekey(owner.identity, 2, "rotate"),
      oneTimePrekeys: createOneTimePrekeys(100, 3, "rotate"),
    });

    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.signedPrekeyId, 2);
    assert.equal(body.oneTimePrekeys, 5);
    assert.equal(body.kemPrekeys, 2);
  },
});

Deno.test({
  name: "tampered signature stores nothing",
  ...testOptions,
  async fn() {
    const owner = await createProfile("tamper");
    await publishFullBundle(owner, 1, 1);
    const before = await prekeyCounts(owner);

    const signedPrekey = createSignedPrekey(owner.identity, 50, "tamper");
    const kemPrekeys = createKemPrekeys(owner.identity, 50, 3, "tamper");
    const lastResortKemPrekey = createKemPrekey(owner.identity, 51, "tamper");
    const valid = {
      action: "publish",
      signedPrekey,
      oneTimePrekeys: createOneTimePrekeys(50, 5, "tamper"),
      kemPrekeys,
      lastResortKemPrekey,
    };

    const cases: Array<[string, Record<string, unknown>]> = [
      ["signedPrekey", { ...valid, signedPrekey: { ...signedPrekey, signature: flipFirstBit(signedPrekey.signature) } }],
      ["signedPrekey", { ...valid, signedPrekey: { ...signedPrekey, publicKey: flipFirstBit(signedPrekey.publicKey) } }],
      [
        "kemPrekeys[1]",
        { ...valid, kemPrekeys: kemPrekeys.map((key, index) => (index === 1 ? { ...key, signature: flipFirstBit(key.signature) } : key)) },
      ],
      [
        "lastResortKemPrekey",
        { ...valid, lastResortKemPrekey: { ...lastResortKemPrekey, signature: flipFirstBit(lastResortKemPrekey.signature) } },
      ],
    ];

    for (const [field, body] of cases) {
      const response = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, body);

      assert.equal(response.status, 422, field);
      assert.equal(response.body.error.code, "invalid_signature", field);
      assert.match(response.body.error.message, new RegExp(`^${field.replace(/[[\]]/g, "\\$&")}\\.signature`), field);
      assert.deepEqual(await prekeyCounts(owner), before, `${field}: nothing stored`);
    }
  },
});

Deno.test({
  name: "keys signed by another identity are 422",
  ...testOptions,
  async fn() {
    const owner = await createProfile("foreign");
    const stranger = createIdentity("foreign-stranger");

    const { status, body } = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, {
      action: "publish",
      signedPrekey: createSignedPrekey(stranger, 1, "foreign"),
      oneTimePrekeys: createOneTimePrekeys(1, 3, "foreign"),
    });

    assert.equal(status, 422);
    assert.equal(body.error.code, "invalid_signature");
    assert.deepEqual(await prekeyCounts(owner), {
      oneTimePrekeys: 0,
      kemPrekeys: 0,
      signedPrekeyId: null,
      lastResortKemPrekeyId: null,
    });
  },
});

Deno.test({
  name: "oversized batches store nothing",
  ...testOptions,
  async fn() {
    const owner = await createProfile("oversized");
    const tooMany = MAX_KEYS_PER_UPLOAD + 1;
    const lastResort = createKemPrekey(owner.identity, 1, "oversized");

    const cases: Array<[string, Record<string, unknown>]> = [
      ["oneTimePrekeys", { action: "publish", oneTimePrekeys: createOneTimePrekeys(1, tooMany, "oversized") }],
      [
        "kemPrekeys",
        { action: "publish", kemPrekeys: Array.from({ length: tooMany }, (_, index) => ({ ...lastResort, keyId: index + 1 })) },
      ],
    ];

    for (const [field, body] of cases) {
      const response = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, body);

      assert.equal(response.status, 400, field);
      assert.equal(response.body.error.code, "batch_too_large", field);
      assert.match(response.body.error.message, new RegExp(`^${field} has ${tooMany} keys`), field);
    }

    assert.equal((await prekeyCounts(owner))["oneTimePrekeys"], 0);
  },
});

Deno.test({
  name: "stored cap is enforced",
  ...testOptions,
  async fn() {
    const owner = await createProfile("cap");
    const [setting] = await admin`
      select integer_value from private.settings where name = 'prekey_stored_max_per_kind'
    `;
    const storedMax = Number(setting!["integer_value"]);

    for (let first = 1; first <= storedMax; first += MAX_KEYS_PER_UPLOAD) {
      const count = Math.min(MAX_KEYS_PER_UPLOAD, storedMax - first + 1);
      const response = await post(publishKeys, "publish-keys", owner.user.token, {
        action: "publish",
        oneTimePrekeys: createOneTimePrekeys(first, count, "cap"),
      });
      assert.equal(response.status, 200, `upload from keyId ${first}: ${JSON.stringify(response.body)}`);
    }

    const over = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, {
      action: "publish",
      oneTimePrekeys: createOneTimePrekeys(storedMax + 1, 1, "cap"),
    });

    assert.equal(over.status, 409, JSON.stringify(over.body));
    assert.equal(over.body.error.code, "prekey_limit_reached");
    assert.equal((await prekeyCounts(owner))["oneTimePrekeys"], storedMax);
  },
});

Deno.test({
  name: "reused key id is 409",
  ...testOptions,
  async fn() {
    const owner = await createProfile("reuse");
    await publishFullBundle(owner, 3, 0);

    const { status, body } = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, {
      action: "publish",
      oneTimePrekeys: createOneTimePrekeys(3, 2, "reuse-again"),
    });

    assert.equal(status, 409, JSON.stringify(body));
    assert.equal(body.error.code, "duplicate_key_id");
    assert.equal((await prekeyCounts(owner))["oneTimePrekeys"], 3);
  },
});

Deno.test({
  name: "publish without a profile is 404",
  ...testOptions,
  async fn() {
    const user = await createUser();
    const identity = createIdentity("no-profile");

    const { status, body } = await post<ErrorBody>(publishKeys, "publish-keys", user.token, {
      action: "publish",
      signedPrekey: createSignedPrekey(identity, 1, "no-profile"),
    });

    assert.equal(status, 404);
    assert.equal(body.error.code, "profile_not_found");
    assert.match(body.error.message, /claim one/);
  },
});

Deno.test({
  name: "publish never changes the identity",
  ...testOptions,
  async fn() {
    const owner = await createProfile("no-identity-change");
    const replacement = createIdentity("no-identity-change-new");

    const { status, body } = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, {
      action: "publish",
      identity: replacement.payload,
      signedPrekey: createSignedPrekey(replacement, 1, "no-identity-change"),
    });

    assert.equal(status, 400);
    assert.equal(body.error.code, "invalid_request");
    assert.match(body.error.message, /resetIdentity/);

    const [row] = await admin`select payload from public.chat_participants where profile = ${owner.profile}`;
    assert.deepEqual(row!["payload"], owner.identity.payload);
  },
});

Deno.test({
  name: "reset identity replaces every key",
  ...testOptions,
  async fn() {
    const owner = await createProfile("reset");
    await publishFullBundle(owner, 4, 4);
    const replacement = createIdentity(`${owner.profile}-new`);

    const { status, body } = await post<KeyCounts>(publishKeys, "publish-keys", owner.user.token, {
      action: "resetIdentity",
      identity: replacement.payload,
      signedPrekey: createSignedPrekey(replacement, 10, "reset"),
      oneTimePrekeys: createOneTimePrekeys(10, 2, "reset"),
      lastResortKemPrekey: createKemPrekey(replacement, 11, "reset"),
    });

    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body, { oneTimePrekeys: 2, kemPrekeys: 0, signedPrekeyId: 10, lastResortKemPrekeyId: 11 });

    const [row] = await admin`select payload from public.chat_participants where profile = ${owner.profile}`;
    assert.deepEqual(row!["payload"], replacement.payload);

    const claimer = await createUser();
    const bundle = await post<{ identity: unknown; kemPrekey: { keyId: number; lastResort: boolean } }>(
      prekeyBundle,
      "prekey-bundle",
      claimer.token,
      { profile: owner.profile },
    );
    assert.equal(bundle.status, 200);
    assert.deepEqual(bundle.body.identity, replacement.payload);
    assert.deepEqual(bundle.body.kemPrekey.keyId, 11);
    assert.equal(bundle.body.kemPrekey.lastResort, true);
  },
});

Deno.test({
  name: "reset with old-identity signatures is 422",
  ...testOptions,
  async fn() {
    const owner = await createProfile("reset-bad");
    await publishFullBundle(owner, 2, 1);
    const before = await prekeyCounts(owner);
    const replacement = createIdentity(`${owner.profile}-new`);

    const { status, body } = await post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, {
      action: "resetIdentity",
      identity: replacement.payload,
      signedPrekey: createSignedPrekey(owner.identity, 10, "reset-bad"),
      lastResortKemPrekey: createKemPrekey(replacement, 11, "reset-bad"),
    });

    assert.equal(status, 422);
    assert.equal(body.error.code, "invalid_signature");

    const [row] = await admin`select payload from public.chat_participants where profile = ${owner.profile}`;
    assert.deepEqual(row!["payload"], owner.identity.payload);
    assert.deepEqual(await prekeyCounts(owner), before);
  },
});

Deno.test({
  name: "identity reset during publish is 409",
  ...testOptions,
  async fn() {
    const owner = await createProfile("race");
    const replacement = createIdentity(`${owner.profile}-new`);
    let publishing: Promise<{ status: number; body: ErrorBody }> | undefined;

    // Holds the profile row locked by reset_identity until the upload, which
    // verified its keys against the old identity, waits for that lock.
    await admin.begin(async (sql) => {
      await sql`
        select
          set_config('role', 'authenticated', true),
          set_config('request.jwt.claims', ${JSON.stringify({ sub: owner.user.id, role: "authenticated" })}, true)
      `;
      await sql`select public.reset_identity(${sql.json(replacement.payload)})`;

      publishing = post<ErrorBody>(publishKeys, "publish-keys", owner.user.token, {
        action: "publish",
        signedPrekey: createSignedPrekey(owner.identity, 1, "race"),
        oneTimePrekeys: createOneTimePrekeys(1, 3, "race"),
      });

      for (let attempt = 0; attempt < 200; attempt += 1) {
        const [waiting] = await admin`
          select count(*)::integer as count from pg_stat_activity
          where application_name = 'parley-edge-functions' and wait_event_type = 'Lock'
        `;
        if (waiting!["count"] > 0) {
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error("the upload never waited for the profile lock");
    });

    const { status, body } = await publishing!;
    assert.equal(status, 409, JSON.stringify(body));
    assert.equal(body.error.code, "identity_changed");
    assert.deepEqual(await prekeyCounts(owner), {
      oneTimePrekeys: 0,
      kemPrekeys: 0,
      signedPrekeyId: null,
      lastResortKemPrekeyId: null,
    });
  },
});

Deno.test({
  name: "invalid stored identity is 409",
  ...testOptions,
  async fn() {
    const user = await createUser();
    // The database rejects small-order and non-canonical keys, but it does not
    // check that y is on the curve. No point has y = 2, so this key is invalid.
    const offCurveKey = `Ag${"A".repeat(41)}`;
    const profile = `off-curve-${user.id.slice(0, 8)}`;
    await asUser(user, (sql) => sql`
      insert into public.chat_participants (profile, payload)
      values (${profile}, ${sql.json({ v: 1, identityKey: offCurveKey })})
    `);

    const { status, body } = await post<ErrorBody>(publishKeys, "publish-keys", user.token, {
      action: "publish",
      oneTimePrekeys: createOneTimePrekeys(1, 1, "off-curve"),
    });

    assert.equal(status, 409);
    assert.equal(body.error.code, "identity_invalid");
    assert.match(body.error.message, /resetIdentity/);
  },
});

Deno.test({
  name: "profile without identity is 409",
  ...testOptions,
  async fn() {
    const user = await createUser();
    const profile = `no-identity-${user.id.slice(0, 8)}`;
    await asUser(user, (sql) => sql`insert into public.chat_participants (profile) values (${profile})`);

    const publish = await post<ErrorBody>(publishKeys, "publish-keys", user.token, {
      action: "publish",
      oneTimePrekeys: createOneTimePrekeys(1, 1, "no-identity"),
    });

    assert.equal(publish.status, 409);
    assert.equal(publish.body.error.code, "identity_missing");

    // resetIdentity is how such a profile gets its first identity key.
    const identity = createIdentity(profile);
    const reset = await post<KeyCounts>(publishKeys, "publish-keys", user.token, {
      action: "resetIdentity",
      identity: identity.payload,
      signedPrekey: createSignedPrekey(identity, 1, profile),
      lastResortKemPrekey: createKemPrekey(identity, 1, profile),
    });

    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    assert.deepEqual(reset.body, { oneTimePrekeys: 0, kemPrekeys: 0, signedPrekeyId: 1, lastResortKemPrekeyId: 1 });
  },
});
