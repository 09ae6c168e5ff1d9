import assert from "node:assert/strict";

import { ApiError } from "../../_shared/errors.ts";
import { assertSignaturesValid, findInvalidSignatures } from "../../_shared/signatures.ts";
import { createIdentity, createKemPrekeys, createSignedPrekey, createKemPrekey, flipFirstBit } from "../support/keys.ts";

const identity = createIdentity("signatures");
const keys = {
  signedPrekey: createSignedPrekey(identity, 1, "signatures"),
  kemPrekeys: createKemPrekeys(identity, 1, 3, "signatures"),
  lastResortKemPrekey: createKemPrekey(identity, 100, "signatures"),
};

Deno.test("valid signatures pass", () => {
  assert.deepEqual(findInvalidSignatures(identity.publicKey, keys), []);
  assertSignaturesValid(identity.publicKey, keys);
});

Deno.test("tampered signature of each kind", () => {
  const cases = [
    { field: "signedPrekey", keys: { ...keys, signedPrekey: { ...keys.signedPrekey, signature: flipFirstBit(keys.signedPrekey.signature) } } },
    {
      field: "kemPrekeys[2]",
      keys: {
        ...keys,
        kemPrekeys: keys.kemPrekeys.map((key, index) => (index === 2 ? { ...key, signature: flipFirstBit(key.signature) } : key)),
      },
    },
    {
      field: "lastResortKemPrekey",
      keys: { ...keys, lastResortKemPrekey: { ...keys.lastResortKemPrekey, signature: flipFirstBit(keys.lastResortKemPrekey.signature) } },
    },
  ];

  for (const { field, keys: tampered } of cases) {
    assert.deepEqual(findInvalidSignatures(identity.publicKey, tampered), [field]);
    assert.throws(
      () => assertSignaturesValid(identity.publicKey, tampered),
      (error: unknown) =>
        error instanceof ApiError &&
        error.status === 422 &&
        error.code === "invalid_signature" &&
        error.message.startsWith(`${field}.signature does not verify`),
    );
  }
});

Deno.test("tampered public key fails", () => {
  const tampered = { ...keys, signedPrekey: { ...keys.signedPrekey, publicKey: flipFirstBit(keys.signedPrekey.publicKey) } };

  assert.deepEqual(findInvalidSignatures(identity.publicKey, tampered), ["signedPrekey"]);
});

Deno.test("keys of another identity fail", () => {
  const other = createIdentity("signatures-other");

  assert.deepEqual(findInvalidSignatures(other.publicKey, keys), [
    "signedPrekey",
    "kemPrekeys[0]",
    "kemPrekeys[1]",
    "kemPrekeys[2]",
    "lastResortKemPrekey",
  ]);
  assert.throws(() => assertSignaturesValid(other.publicKey, keys), /signedPrekey\.signature does not verify.*5 keys in total fail.*0x05/);
});

Deno.test("KEM signature message names 0x08", () => {
  const tampered = { kemPrekeys: [{ ...keys.kemPrekeys[0]!, signature: flipFirstBit(keys.kemPrekeys[0]!.signature) }] };

  assert.throws(() => assertSignaturesValid(identity.publicKey, tampered), /kemPrekeys\[0\]\.signature.*sign 0x08 \|\| publicKey/);
});

Deno.test("no signed keys passes", () => {
  assert.deepEqual(findInvalidSignatures(identity.publicKey, {}), []);
});
