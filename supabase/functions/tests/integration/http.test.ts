/**
 * The HTTP surface every function shares: preflight, methods, content type,
 * body limits and authentication. These requests fail before any SQL runs,
 * except the last check of each function, which needs a valid token.
 */
import assert from "node:assert/strict";

import acknowledgeTopics from "../../acknowledge-topics/handler.ts";
import type { Handler } from "../../_shared/http.ts";
import { MAX_BODY_BYTES } from "../../_shared/limits.ts";
import prekeyBundle from "../../prekey-bundle/handler.ts";
import publishKeys from "../../publish-keys/handler.ts";
import { type ErrorBody, post, readJson } from "../support/http.ts";
import { createUser, signAccessToken, signLegacyAccessToken } from "../support/stack.ts";

const functions: Array<[string, Handler]> = [
  ["prekey-bundle", prekeyBundle],
  ["acknowledge-topics", acknowledgeTopics],
  ["publish-keys", publishKeys],
];

const validBodies: Record<string, unknown> = {
  "prekey-bundle": { profile: "nobody-here" },
  "acknowledge-topics": { topicIds: [1] },
  "publish-keys": { action: "publish", oneTimePrekeys: [{ keyId: 1, publicKey: "A".repeat(43) }] },
};

function assertJsonAndCors(headers: Headers, context: string): void {
  assert.match(headers.get("content-type") ?? "", /^application\/json/, `${context}: Content-Type`);
  assert.equal(headers.get("access-control-allow-origin"), "*", `${context}: CORS origin`);
  assert.ok(headers.get("x-request-id"), `${context}: X-Request-Id`);
}

const testOptions = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "preflight answers CORS",
  ...testOptions,
  async fn() {
    for (const [name, handler] of functions) {
      const response = await handler.fetch(
        new Request(`http://127.0.0.1/functions/v1/${name}`, {
          method: "OPTIONS",
          headers: {
            Origin: "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-client-info, apikey",
          },
        }),
      );

      assert.equal(response.status, 204, name);
      assert.equal(await response.text(), "", name);
      assertJsonAndCors(response.headers, name);
      assert.match(response.headers.get("access-control-allow-methods") ?? "", /POST/, name);

      const allowedHeaders = response.headers.get("access-control-allow-headers") ?? "";
      for (const header of ["authorization", "content-type", "x-client-info", "apikey", "x-region"]) {
        assert.ok(allowedHeaders.includes(header), `${name}: allows ${header}`);
      }
    }
  },
});

Deno.test({
  name: "other methods are 405",
  ...testOptions,
  async fn() {
    const user = await createUser();

    for (const [name, handler] of functions) {
      for (const method of ["GET", "PUT", "PATCH", "DELETE", "HEAD"]) {
        const response = await handler.fetch(
          new Request(`http://127.0.0.1/functions/v1/${name}`, {
            method,
            headers: { Authorization: `Bearer ${user.token}` },
          }),
        );
        const { status, headers, body } = await readJson<ErrorBody>(response);

        assert.equal(status, 405, `${name} ${method}`);
        assert.equal(headers.get("allow"), "POST, OPTIONS", `${name} ${method}`);
        assertJsonAndCors(headers, `${name} ${method}`);
        if (method !== "HEAD") {
          assert.equal(body.error.code, "method_not_allowed", `${name} ${method}`);
        }
      }
    }
  },
});

Deno.test({
  name: "missing or forged token is 401",
  ...testOptions,
  async fn() {
    const user = await createUser();
    const forgedSecret = "not-the-project-secret-but-long-enough-for-hs256";
    const claims = { sub: user.id, role: "authenticated", aud: "authenticated" };
    const cases: Array<[string, string | undefined, string]> = [
      ["no token", undefined, "missing_token"],
      ["garbage", "garbage", "invalid_token"],
      ["forged HS256", await signLegacyAccessToken(claims, forgedSecret), "invalid_token"],
      ["tampered payload", tamperPayload(user.token), "invalid_token"],
      ["expired", await signAccessToken(claims, Math.floor(Date.now() / 1000) - 10), "invalid_token"],
      ["anon key", await signAccessToken({ role: "anon", iss: "supabase" }), "invalid_token"],
    ];

    for (const [name, handler] of functions) {
      for (const [label, token, code] of cases) {
        const { status, headers, body } = await post<ErrorBody>(handler, name, token, validBodies[name]);

        assert.equal(status, 401, `${name}, ${label}`);
        assert.equal(body.error.code, code, `${name}, ${label}`);
        assert.match(headers.get("www-authenticate") ?? "", /^Bearer/, `${name}, ${label}`);
        assertJsonAndCors(headers, `${name}, ${label}`);
      }
    }
  },
});

/** Changes the token's `sub` without re-signing it. */
function tamperPayload(token: string): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(atob(payload!.replaceAll("-", "+").replaceAll("_", "/")));
  claims.sub = crypto.randomUUID();
  const tampered = btoa(JSON.stringify(claims)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return `${header}.${tampered}.${signature}`;
}

Deno.test({
  name: "legacy HS256 token is accepted",
  ...testOptions,
  async fn() {
    const user = await createUser();
    const token = await signLegacyAccessToken({ sub: user.id, role: "authenticated", aud: "authenticated" });
    const { status, body } = await post<ErrorBody>(prekeyBundle, "prekey-bundle", token, { profile: "nobody-here" });

    // Authentication passed, so the request reached the database, which has no such profile.
    assert.equal(status, 404);
    assert.equal(body.error.code, "profile_not_found");
  },
});

Deno.test({
  name: "body must be JSON",
  ...testOptions,
  async fn() {
    const user = await createUser();

    for (const [name, handler] of functions) {
      const wrongType = await post<ErrorBody>(handler, name, user.token, validBodies[name], { "Content-Type": "text/plain" });
      assert.equal(wrongType.status, 415, name);
      assert.equal(wrongType.body.error.code, "unsupported_media_type", name);

      const broken = await post<ErrorBody>(handler, name, user.token, "{ not json");
      assert.equal(broken.status, 400, name);
      assert.equal(broken.body.error.code, "invalid_json", name);

      const empty = await post<ErrorBody>(handler, name, user.token, "");
      assert.equal(empty.status, 400, name);
      assert.equal(empty.body.error.code, "invalid_json", name);

      const notObject = await post<ErrorBody>(handler, name, user.token, [1, 2]);
      assert.equal(notObject.status, 400, name);
      assert.equal(notObject.body.error.code, "invalid_request", name);
      assert.equal(notObject.body.error.message, "request body must be a JSON object", name);
    }
  },
});

Deno.test({
  name: "oversized body is 413",
  ...testOptions,
  async fn() {
    const user = await createUser();

    for (const [name, handler] of functions) {
      const limit = MAX_BODY_BYTES[name as keyof typeof MAX_BODY_BYTES];
      const body = JSON.stringify({ padding: "x".repeat(limit) });
      const { status, body: error } = await post<ErrorBody>(handler, name, user.token, body);

      assert.equal(status, 413, name);
      assert.equal(error.error.code, "body_too_large", name);
      assert.match(error.error.message, new RegExp(`exceeds ${limit} bytes`), name);
    }
  },
});

Deno.test({
  name: "request id is echoed",
  ...testOptions,
  async fn() {
    const echoed = await post(prekeyBundle, "prekey-bundle", undefined, {}, { "X-Request-Id": "client-id-123" });
    const generated = await post(prekeyBundle, "prekey-bundle", undefined, {}, { "X-Request-Id": "bad id with spaces" });

    assert.equal(echoed.headers.get("x-request-id"), "client-id-123");
    assert.match(generated.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  },
});

Deno.test({
  name: "anon role is 403",
  ...testOptions,
  async fn() {
    // A verified token whose role lacks the grants: the database refuses it,
    // which shows that the SQL runs as the token's role.
    const user = await createUser();
    const token = await signAccessToken({ sub: user.id, role: "anon", aud: "authenticated" });

    for (const [name, handler] of functions) {
      const { status, body } = await post<ErrorBody>(handler, name, token, validBodies[name]);

      assert.equal(status, 403, name);
      assert.equal(body.error.code, "forbidden", name);
    }
  },
});
