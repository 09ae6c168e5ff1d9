import assert from "node:assert/strict";

import { ApiError } from "../../_shared/errors.ts";
import { decodeBase64Url, encodeBase64Url } from "../../_shared/keys.ts";
import {
  acknowledgeTopicsRequestSchema,
  formatPath,
  parseRequest,
  prekeyBundleRequestSchema,
  publishKeysRequestSchema,
} from "../../_shared/schemas.ts";
import { createIdentity, createKemPrekey, createOneTimePrekeys, createSignedPrekey } from "../support/keys.ts";

const identity = createIdentity("schemas");
const signedPrekey = createSignedPrekey(identity, 1, "schemas");
const lastResortKemPrekey = createKemPrekey(identity, 1000, "schemas");

/** Parses and returns the ApiError the parse throws. */
function rejection(schema: Parameters<typeof parseRequest>[0], body: unknown): ApiError {
  try {
    parseRequest(schema, body);
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${error}`);
    return error;
  }

  assert.fail(`expected ${JSON.stringify(body).slice(0, 200)} to be rejected`);
}

Deno.test("publish accepts every key kind", () => {
  const body = {
    action: "publish",
    signedPrekey,
    oneTimePrekeys: createOneTimePrekeys(1, 3, "schemas"),
    kemPrekeys: [createKemPrekey(identity, 1, "schemas")],
    lastResortKemPrekey,
  };

  assert.deepEqual(parseRequest(publishKeysRequestSchema, body), body);
});

Deno.test("publish requires an action", () => {
  const error = rejection(publishKeysRequestSchema, { signedPrekey });

  assert.equal(error.status, 400);
  assert.equal(error.code, "invalid_request");
  assert.match(error.message, /action "publish".*"resetIdentity"/);
});

Deno.test("publish rejects an identity field", () => {
  const error = rejection(publishKeysRequestSchema, { action: "publish", signedPrekey, identity: identity.payload });

  assert.equal(error.code, "invalid_request");
  assert.match(error.message, /unknown field "identity"/);
  assert.match(error.message, /resetIdentity/);
});

Deno.test("publish rejects an empty upload", () => {
  const error = rejection(publishKeysRequestSchema, { action: "publish", oneTimePrekeys: [] });

  assert.equal(error.code, "invalid_request");
  assert.match(error.message, /nothing to publish/);
});

Deno.test("reset requires the signed and last-resort keys", () => {
  const withoutSigned = rejection(publishKeysRequestSchema, {
    action: "resetIdentity",
    identity: identity.payload,
    lastResortKemPrekey,
  });
  const withoutLastResort = rejection(publishKeysRequestSchema, {
    action: "resetIdentity",
    identity: identity.payload,
    signedPrekey,
  });

  assert.match(withoutSigned.message, /^signedPrekey: missing required field/);
  assert.match(withoutLastResort.message, /^lastResortKemPrekey: missing required field/);
});

Deno.test("reset rejects an invalid identity key", () => {
  const smallOrder = `AQ${"A".repeat(41)}`;
  const error = rejection(publishKeysRequestSchema, {
    action: "resetIdentity",
    identity: { v: 1, identityKey: smallOrder },
    signedPrekey,
    lastResortKemPrekey,
  });

  assert.match(error.message, /^identity\.identityKey: invalid Ed25519 public key/);
});

Deno.test("oversized batches are batch_too_large", () => {
  const oneTime = rejection(publishKeysRequestSchema, {
    action: "publish",
    oneTimePrekeys: createOneTimePrekeys(1, 101, "oversized"),
  });
  const kem = rejection(publishKeysRequestSchema, {
    action: "publish",
    kemPrekeys: Array.from({ length: 101 }, (_, index) => ({ ...lastResortKemPrekey, keyId: index + 1 })),
  });

  assert.equal(oneTime.status, 400);
  assert.equal(oneTime.code, "batch_too_large");
  assert.match(oneTime.message, /^oneTimePrekeys has 101 keys, more than 100/);
  assert.equal(kem.code, "batch_too_large");
  assert.match(kem.message, /kemPrekeys has 101 keys/);
});

Deno.test("duplicate key ids in a batch", () => {
  const keys = createOneTimePrekeys(5, 2, "duplicate");
  keys[1]!.keyId = 5;
  const error = rejection(publishKeysRequestSchema, { action: "publish", oneTimePrekeys: keys });

  assert.equal(error.code, "invalid_request");
  assert.match(error.message, /^oneTimePrekeys\[1\]\.keyId: keyId 5 appears more than once/);
});

Deno.test("key field errors name the field", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...signedPrekey, keyId: 0 }, /^signedPrekey\.keyId: keyId must be at least 1/],
    [{ ...signedPrekey, keyId: 2 ** 31 }, /^signedPrekey\.keyId: keyId must be at most 2147483647/],
    [{ ...signedPrekey, keyId: 1.5 }, /^signedPrekey\.keyId: expected keyId as an integer/],
    [{ ...signedPrekey, publicKey: signedPrekey.publicKey.slice(1) }, /^signedPrekey\.publicKey: expected 43 base64url characters.*got 42/],
    [{ ...signedPrekey, publicKey: `${signedPrekey.publicKey.slice(1)}=` }, /^signedPrekey\.publicKey: invalid base64url/],
    [{ ...signedPrekey, signature: undefined }, /^signedPrekey\.signature: missing required field/],
    [{ ...signedPrekey, extra: 1 }, /^signedPrekey: unknown field "extra"; remove it/],
    [{ ...signedPrekey, publicKey: lastResortKemPrekey.publicKey }, /^signedPrekey\.publicKey: expected 43 base64url characters/],
  ];

  for (const [key, pattern] of cases) {
    const error = rejection(publishKeysRequestSchema, { action: "publish", signedPrekey: key });
    assert.equal(error.code, "invalid_request");
    assert.match(error.message, pattern);
  }
});

Deno.test("wrong key length is one problem", () => {
  const error = rejection(publishKeysRequestSchema, {
    action: "publish",
    lastResortKemPrekey: { ...lastResortKemPrekey, publicKey: lastResortKemPrekey.publicKey.slice(4) },
  });

  assert.equal(
    error.message,
    "lastResortKemPrekey.publicKey: expected 2091 base64url characters " +
      "(an ML-KEM-1024 encapsulation key, 1568 bytes), got 2087",
  );
});

Deno.test("KEM key must pass the modulus check", () => {
  // Sets the first 12-bit coefficient to 0xfff, above q = 3329.
  const bytes = decodeBase64Url(lastResortKemPrekey.publicKey)!;
  bytes[0] = 0xff;
  bytes[1] = bytes[1]! | 0x0f;
  const publicKey = encodeBase64Url(bytes);
  const error = rejection(publishKeysRequestSchema, {
    action: "publish",
    lastResortKemPrekey: { ...lastResortKemPrekey, publicKey },
  });

  assert.match(error.message, /^lastResortKemPrekey\.publicKey: invalid ML-KEM-1024 encapsulation key/);
});

Deno.test("X25519 key with bit 255 set", () => {
  const bytes = decodeBase64Url(signedPrekey.publicKey)!;
  bytes[31] = bytes[31]! | 0x80;
  const error = rejection(publishKeysRequestSchema, {
    action: "publish",
    oneTimePrekeys: [{ keyId: 1, publicKey: encodeBase64Url(bytes) }],
  });

  assert.match(error.message, /^oneTimePrekeys\[0\]\.publicKey: invalid X25519 public key: bit 255 is set/);
});

Deno.test("bundle request validates the profile", () => {
  assert.deepEqual(parseRequest(prekeyBundleRequestSchema, { profile: "bob.smith_1" }), { profile: "bob.smith_1" });

  for (const profile of ["Bob", "ab", "-bob", "bob smith", "a".repeat(65), 42]) {
    const error = rejection(prekeyBundleRequestSchema, { profile });
    assert.equal(error.code, "invalid_request", `profile ${profile}`);
    assert.match(error.message, /^profile: /);
  }

  assert.match(rejection(prekeyBundleRequestSchema, {}).message, /^profile: missing required field/);
  assert.equal(rejection(prekeyBundleRequestSchema, []).message, "request body must be a JSON object");
});

Deno.test("topic id list bounds", () => {
  const ids = Array.from({ length: 1000 }, (_, index) => index + 1);
  assert.deepEqual(parseRequest(acknowledgeTopicsRequestSchema, { topicIds: ids }), { topicIds: ids });

  const empty = rejection(acknowledgeTopicsRequestSchema, { topicIds: [] });
  const oversized = rejection(acknowledgeTopicsRequestSchema, { topicIds: [...ids, 1001] });

  assert.equal(empty.code, "invalid_request");
  assert.match(empty.message, /topicIds is empty/);
  assert.equal(oversized.code, "batch_too_large");
  assert.match(oversized.message, /^topicIds has 1001 ids, more than 1000/);

  for (const topicId of [0, -1, 1.5, "7", 2 ** 53]) {
    const error = rejection(acknowledgeTopicsRequestSchema, { topicIds: [topicId] });
    assert.equal(error.code, "invalid_request", `topic id ${topicId}`);
    assert.match(error.message, /^topicIds\[0\]: /);
  }
});

Deno.test("validation paths read as code", () => {
  assert.equal(formatPath(["kemPrekeys", 3, "publicKey"]), "kemPrekeys[3].publicKey");
  assert.equal(formatPath([0]), "[0]");
  assert.equal(formatPath([]), "");
});
