import assert from "node:assert/strict";
import { ed25519 } from "npm:@noble/curves@2.4.0/ed25519.js";
import { hexToBytes } from "npm:@noble/hashes@2.4.0/utils.js";

import {
  base64UrlLength,
  decodeBase64Url,
  encodeBase64Url,
  encodeSignedPublicKey,
  isValidIdentityKey,
  isValidMlKem1024PublicKey,
  KEY_BYTES,
  verifyPrekeySignature,
} from "../../_shared/keys.ts";
import { createIdentity, createKemPrekey, createSignedPrekey } from "../support/keys.ts";

Deno.test("base64url lengths match docs/formats.md", () => {
  assert.deepEqual(base64UrlLength(KEY_BYTES.identityKey), 43);
  assert.deepEqual(base64UrlLength(KEY_BYTES.x25519), 43);
  assert.deepEqual(base64UrlLength(KEY_BYTES.mlKem1024), 2091);
  assert.deepEqual(base64UrlLength(KEY_BYTES.signature), 86);
});

Deno.test("base64url round trip of every length", () => {
  for (let length = 0; length < 70; length += 1) {
    const bytes = Uint8Array.from({ length }, (_, index) => (index * 37 + length) & 0xff);
    const text = encodeBase64Url(bytes);

    assert.deepEqual(text.length, base64UrlLength(length));
    assert.deepEqual(decodeBase64Url(text), bytes);
  }
});

Deno.test("base64url rejects non-canonical text", () => {
  const canonical = encodeBase64Url(new Uint8Array(32).fill(0xab));
  const lastIndex = canonical.length - 1;
  const nonZeroTrailingBits = canonical.slice(0, lastIndex) +
    String.fromCharCode(canonical.charCodeAt(lastIndex) + 1);

  assert.deepEqual(decodeBase64Url(nonZeroTrailingBits), undefined);
  assert.deepEqual(decodeBase64Url(`${canonical}=`), undefined);
  assert.deepEqual(decodeBase64Url(canonical.replace(/^./, "+")), undefined);
  assert.deepEqual(decodeBase64Url(canonical.replace(/^./, "/")), undefined);
  assert.deepEqual(decodeBase64Url(` ${canonical}`), undefined);
  assert.deepEqual(decodeBase64Url("A"), undefined);
});

// RFC 8032 section 7.1, TEST 1 (empty message).
const RFC8032_TEST1 = {
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

Deno.test("ed25519 verifies RFC 8032 test 1", () => {
  const publicKey = hexToBytes(RFC8032_TEST1.publicKey);
  const signature = hexToBytes(RFC8032_TEST1.signature);

  assert(ed25519.verify(signature, new Uint8Array(0), publicKey, { zip215: false }));
  assert(isValidIdentityKey(publicKey));
});

Deno.test("identity key rejects small-order and non-canonical points", () => {
  const neutralPoint = new Uint8Array(32);
  neutralPoint[0] = 1;
  // y = p = 2^255 - 19 is the non-canonical encoding of y = 0.
  const nonCanonical = hexToBytes("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");

  assert.ok(!isValidIdentityKey(neutralPoint));
  assert.ok(!isValidIdentityKey(nonCanonical));
  assert.ok(!isValidIdentityKey(new Uint8Array(31)));
  assert(isValidIdentityKey(createIdentity("valid").publicKey));
});

Deno.test("ML-KEM key modulus check", () => {
  const identity = createIdentity("modulus");
  const publicKey = decodeBase64Url(createKemPrekey(identity, 1, "modulus").publicKey)!;
  assert(isValidMlKem1024PublicKey(publicKey));

  // The first coefficient is byte 0 plus the low 4 bits of byte 1: 0xd01 = 3329 = q.
  const firstCoefficientIsQ = publicKey.slice();
  firstCoefficientIsQ[0] = 0x01;
  firstCoefficientIsQ[1] = (firstCoefficientIsQ[1]! & 0xf0) | 0x0d;
  assert.ok(!isValidMlKem1024PublicKey(firstCoefficientIsQ));

  // The second coefficient is the high 4 bits of byte 1 plus byte 2 << 4: 0xfff.
  const secondCoefficientTooLarge = publicKey.slice();
  secondCoefficientTooLarge[1] = secondCoefficientTooLarge[1]! | 0xf0;
  secondCoefficientTooLarge[2] = 0xff;
  assert.ok(!isValidMlKem1024PublicKey(secondCoefficientTooLarge));

  // The 32-byte seed rho at the end is not checked against q.
  const rhoAllOnes = publicKey.slice();
  rhoAllOnes.fill(0xff, KEY_BYTES.mlKem1024 - 32);
  assert(isValidMlKem1024PublicKey(rhoAllOnes));

  assert.ok(!isValidMlKem1024PublicKey(publicKey.subarray(1)));
});

Deno.test("signed message is type byte and key", () => {
  const key = new Uint8Array([1, 2, 3]);

  assert.deepEqual(encodeSignedPublicKey("x25519", key), new Uint8Array([0x05, 1, 2, 3]));
  assert.deepEqual(encodeSignedPublicKey("mlKem1024", key), new Uint8Array([0x08, 1, 2, 3]));
});

Deno.test("prekey signature verifies for both key types", () => {
  const identity = createIdentity("both");
  const signed = createSignedPrekey(identity, 7, "both");
  const kem = createKemPrekey(identity, 8, "both");

  assert(verifyPrekeySignature(identity.publicKey, "x25519", decodeBase64Url(signed.publicKey)!, decodeBase64Url(signed.signature)!));
  assert(verifyPrekeySignature(identity.publicKey, "mlKem1024", decodeBase64Url(kem.publicKey)!, decodeBase64Url(kem.signature)!));
});

Deno.test("prekey signature binds the type byte", () => {
  const identity = createIdentity("type");
  const signed = createSignedPrekey(identity, 1, "type");

  const verifiedAsKem = verifyPrekeySignature(
    identity.publicKey,
    "mlKem1024",
    decodeBase64Url(signed.publicKey)!,
    decodeBase64Url(signed.signature)!,
  );
  assert.ok(!verifiedAsKem);
});

Deno.test("prekey signature rejects another identity", () => {
  const identity = createIdentity("owner");
  const stranger = createIdentity("stranger");
  const signed = createSignedPrekey(identity, 1, "owner");

  const verified = verifyPrekeySignature(
    stranger.publicKey,
    "x25519",
    decodeBase64Url(signed.publicKey)!,
    decodeBase64Url(signed.signature)!,
  );
  assert.ok(!verified);
});

Deno.test("prekey signature rejects every bit flip", () => {
  const identity = createIdentity("flips");
  const signed = createSignedPrekey(identity, 1, "flips");
  const publicKey = decodeBase64Url(signed.publicKey)!;
  const signature = decodeBase64Url(signed.signature)!;

  for (let bit = 0; bit < signature.length * 8; bit += 1) {
    const tampered = signature.slice();
    tampered[bit >> 3] = tampered[bit >> 3]! ^ (1 << (bit & 7));
    assert.ok(!verifyPrekeySignature(identity.publicKey, "x25519", publicKey, tampered), `signature bit ${bit}`);
  }

  for (let bit = 0; bit < publicKey.length * 8; bit += 1) {
    const tampered = publicKey.slice();
    tampered[bit >> 3] = tampered[bit >> 3]! ^ (1 << (bit & 7));
    assert.ok(!verifyPrekeySignature(identity.publicKey, "x25519", tampered, signature), `public key bit ${bit}`);
  }
});

Deno.test("prekey signature rejects malformed input", () => {
  const identity = createIdentity("malformed");
  const signed = createSignedPrekey(identity, 1, "malformed");
  const publicKey = decodeBase64Url(signed.publicKey)!;
  const signature = decodeBase64Url(signed.signature)!;

  assert.ok(!verifyPrekeySignature(identity.publicKey, "x25519", publicKey, signature.subarray(1)));
  assert.ok(!verifyPrekeySignature(identity.publicKey.subarray(1), "x25519", publicKey, signature));
  assert.ok(!verifyPrekeySignature(new Uint8Array(32), "x25519", publicKey, signature));
});
