import assert from "node:assert/strict";
import { ed25519 } from "npm:@noble/curves@2.4.0/ed25519.js";

import { decodeBase64Url, encodeSignedPublicKey } from "../../_shared/keys.ts";
import prekeyBundle from "../../prekey-bundle/handler.ts";
import { type ErrorBody, post } from "../support/http.ts";
import { createProfile, prekeyCounts, publishFullBundle } from "../support/profiles.ts";
import { admin, createUser } from "../support/stack.ts";

const testOptions = { sanitizeOps: false, sanitizeResources: false };

interface Bundle {
  profile: string;
  identity: { v: number; identityKey: string };
  signedPrekey: { keyId: number; publicKey: string; signature: string };
  oneTimePrekey: { keyId: number; publicKey: string } | null;
  kemPrekey: { keyId: number; publicKey: string; signature: string; lastResort: boolean };
}

function verifies(identityKey: string, keyType: "x25519" | "mlKem1024", key: { publicKey: string; signature: string }) {
  return ed25519.verify(
    decodeBase64Url(key.signature)!,
    encodeSignedPublicKey(keyType, decodeBase64Url(key.publicKey)!),
    decodeBase64Url(identityKey)!,
  );
}

Deno.test({
  name: "bundle returns verified keys",
  ...testOptions,
  async fn() {
    const bob = await createProfile("bob");
    const published = await publishFullBundle(bob, 3, 2);
    const alice = await createUser();

    const { status, headers, body } = await post<Bundle>(prekeyBundle, "prekey-bundle", alice.token, { profile: bob.profile });

    assert.equal(status, 200, JSON.stringify(body));
    assert.match(headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(headers.get("access-control-allow-origin"), "*");
    assert.equal(body.profile, bob.profile);
    assert.deepEqual(body.identity, bob.identity.payload);
    assert.equal(body.signedPrekey.keyId, 1);
    assert.ok(verifies(body.identity.identityKey, "x25519", body.signedPrekey));
    assert.ok(body.oneTimePrekey !== null);
    assert.ok(published.oneTimeKeyIds.includes(body.oneTimePrekey.keyId));
    assert.ok(published.kemKeyIds.includes(body.kemPrekey.keyId));
    assert.equal(body.kemPrekey.lastResort, false);
    assert.ok(verifies(body.identity.identityKey, "mlKem1024", body.kemPrekey));
  },
});

Deno.test({
  name: "bundle falls back when keys run out",
  ...testOptions,
  async fn() {
    const bob = await createProfile("exhaust");
    await publishFullBundle(bob, 1, 1);
    const alice = await createUser();

    const first = await post<Bundle>(prekeyBundle, "prekey-bundle", alice.token, { profile: bob.profile });
    const second = await post<Bundle>(prekeyBundle, "prekey-bundle", alice.token, { profile: bob.profile });

    assert.equal(first.status, 200);
    assert.equal(first.body.oneTimePrekey?.keyId, 1);
    assert.equal(first.body.kemPrekey.keyId, 1);
    assert.equal(first.body.kemPrekey.lastResort, false);

    assert.equal(second.status, 200);
    assert.equal(second.body.oneTimePrekey, null);
    assert.equal(second.body.kemPrekey.keyId, 1_000_000);
    assert.equal(second.body.kemPrekey.lastResort, true);
    assert.ok(verifies(second.body.identity.identityKey, "mlKem1024", second.body.kemPrekey));
  },
});

Deno.test({
  name: "16 concurrent claims get distinct keys",
  ...testOptions,
  async fn() {
    const bob = await createProfile("concurrent");
    await publishFullBundle(bob, 20, 20);
    // One caller per request, because claims are rate limited per caller and target.
    const callers = await Promise.all(Array.from({ length: 16 }, () => createUser()));

    const responses = await Promise.all(
      callers.map((caller) => post<Bundle>(prekeyBundle, "prekey-bundle", caller.token, { profile: bob.profile })),
    );

    for (const response of responses) {
      assert.equal(response.status, 200, JSON.stringify(response.body));
    }

    const oneTimeIds = responses.map((response) => response.body.oneTimePrekey?.keyId);
    const kemIds = responses.map((response) => response.body.kemPrekey.keyId);
    assert.equal(new Set(oneTimeIds).size, 16, `one-time key ids ${oneTimeIds}`);
    assert.ok(oneTimeIds.every((id) => id !== undefined), `one-time key ids ${oneTimeIds}`);
    assert.equal(new Set(kemIds).size, 16, `KEM key ids ${kemIds}`);

    assert.equal((await prekeyCounts(bob))["oneTimePrekeys"], 4);
    assert.equal((await prekeyCounts(bob))["kemPrekeys"], 4);
  },
});

Deno.test({
  name: "unknown profile is 404",
  ...testOptions,
  async fn() {
    const alice = await createUser();
    const { status, body } = await post<ErrorBody>(prekeyBundle, "prekey-bundle", alice.token, { profile: "nobody-by-this-name" });

    assert.equal(status, 404);
    assert.equal(body.error.code, "profile_not_found");
  },
});

Deno.test({
  name: "profile without keys is 404",
  ...testOptions,
  async fn() {
    const bob = await createProfile("keyless");
    const alice = await createUser();
    const { status, body } = await post<ErrorBody>(prekeyBundle, "prekey-bundle", alice.token, { profile: bob.profile });

    assert.equal(status, 404);
    assert.equal(body.error.code, "profile_not_found");
  },
});

Deno.test({
  name: "claim rate limit is 429",
  ...testOptions,
  async fn() {
    const bob = await createProfile("limited");
    await publishFullBundle(bob, 2, 2);
    const alice = await createUser();
    const [setting] = await admin`select integer_value from private.settings where name = 'claim_rate_limit_max'`;
    const claimMax = Number(setting!["integer_value"]);

    for (let claim = 1; claim <= claimMax; claim += 1) {
      const response = await post(prekeyBundle, "prekey-bundle", alice.token, { profile: bob.profile });
      assert.equal(response.status, 200, `claim ${claim}`);
    }

    const limited = await post<ErrorBody>(prekeyBundle, "prekey-bundle", alice.token, { profile: bob.profile });
    const retryAfter = Number(limited.headers.get("retry-after"));

    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, "rate_limited");
    assert.ok(Number.isInteger(retryAfter), `Retry-After ${limited.headers.get("retry-after")}`);
    assert.ok(retryAfter > 0, `Retry-After ${retryAfter}`);
    assert.match(limited.headers.get("access-control-expose-headers") ?? "", /retry-after/);

    // The limit is per caller and target: another caller still gets a bundle.
    const carol = await createUser();
    assert.equal((await post(prekeyBundle, "prekey-bundle", carol.token, { profile: bob.profile })).status, 200);
  },
});

Deno.test({
  name: "invalid bundle request is 400",
  ...testOptions,
  async fn() {
    const alice = await createUser();
    const cases: unknown[] = [{}, { profile: "Bob" }, { profile: "x" }, { profile: 7 }, { profile: "bob-1", extra: true }];

    for (const body of cases) {
      const response = await post<ErrorBody>(prekeyBundle, "prekey-bundle", alice.token, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.error.code, "invalid_request", JSON.stringify(body));
    }
  },
});
