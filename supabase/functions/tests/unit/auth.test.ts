import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "npm:jose@6.2.19";

import { Authenticator } from "../../_shared/auth.ts";
import { ApiError } from "../../_shared/errors.ts";

const userId = "4b1f5c1e-8a43-4c5e-9f1a-2d3b4c5d6e7f";
const jwtSecret = "a-legacy-hs256-secret-of-at-least-32-characters";

const signing = await generateKeyPair("ES256", { extractable: true });
const forger = await generateKeyPair("ES256", { extractable: true });
const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: "test-key", alg: "ES256", use: "sig" };
const jwks = JSON.stringify({ keys: [publicJwk] });

function claims(overrides: Record<string, unknown> = {}) {
  return { sub: userId, role: "authenticated", aud: "authenticated", ...overrides };
}

async function es256Token(key: CryptoKey = signing.privateKey, payload = claims(), expiresIn: string | number = "5m") {
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: "ES256", kid: "test-key", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(key);
}

async function hs256Token(secret = jwtSecret, payload = claims()) {
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}

/** Runs authenticate and returns the ApiError it throws. */
async function rejection(authenticator: Authenticator, header: string | null): Promise<ApiError> {
  try {
    await authenticator.authenticate(header);
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${error}`);
    return error;
  }

  assert.fail(`expected ${header} to be rejected`);
}

Deno.test("ES256 token from the key set", async () => {
  const authenticator = new Authenticator({ jwks });
  const caller = await authenticator.authenticate(`Bearer ${await es256Token()}`);

  assert.equal(caller.userId, userId);
  assert.equal(caller.role, "authenticated");
  assert.equal(caller.claims["aud"], "authenticated");
});

Deno.test("bare array key set", async () => {
  const authenticator = new Authenticator({ jwks: JSON.stringify([publicJwk]) });

  assert.equal((await authenticator.authenticate(`bearer ${await es256Token()}`)).userId, userId);
});

Deno.test("HS256 token with the legacy secret", async () => {
  const authenticator = new Authenticator({ jwks, jwtSecret });

  assert.equal((await authenticator.authenticate(`Bearer ${await hs256Token()}`)).userId, userId);
});

Deno.test("HS256 rejected without a secret", async () => {
  const error = await rejection(new Authenticator({ jwks }), `Bearer ${await hs256Token()}`);

  assert.equal(error.status, 401);
  assert.equal(error.code, "invalid_token");
  assert.match(error.message, /HS256/);
});

Deno.test("rejected tokens are 401", async () => {
  const authenticator = new Authenticator({ jwks, jwtSecret });
  const unsigned = new UnsecuredJWT(claims()).setExpirationTime("5m").encode();
  const cases: Array<[string, string | null, string, RegExp]> = [
    ["missing header", null, "missing_token", /Authorization header missing/],
    ["empty header", "", "missing_token", /Authorization header missing/],
    ["basic scheme", "Basic dXNlcjpwYXNz", "invalid_token", /malformed/],
    ["not a JWT", "Bearer not-a-jwt", "invalid_token", /malformed/],
    ["forged key", `Bearer ${await es256Token(forger.privateKey)}`, "invalid_token", /signature or claims/],
    ["wrong secret", `Bearer ${await hs256Token("another-secret-of-at-least-32-characters")}`, "invalid_token", /signature or claims/],
    ["alg none", `Bearer ${unsigned}`, "invalid_token", /signature or claims/],
    ["expired", `Bearer ${await es256Token(signing.privateKey, claims(), Math.floor(Date.now() / 1000) - 60)}`, "invalid_token", /expired/],
    ["no sub", `Bearer ${await es256Token(signing.privateKey, claims({ sub: undefined }))}`, "invalid_token", /no user/],
    ["unknown role", `Bearer ${await es256Token(signing.privateKey, claims({ role: "postgres" }))}`, "invalid_token", /role/],
  ];

  for (const [name, header, code, pattern] of cases) {
    const error = await rejection(authenticator, header);
    assert.equal(error.status, 401, name);
    assert.equal(error.code, code, name);
    assert.match(error.message, pattern, name);
    assert.ok(error.headers["WWW-Authenticate"]?.startsWith("Bearer"), name);
  }
});

Deno.test("token without exp is rejected", async () => {
  const token = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid: "test-key" }).sign(signing.privateKey);
  const error = await rejection(new Authenticator({ jwks }), `Bearer ${token}`);

  assert.equal(error.status, 401);
});

Deno.test("key set fetched from the project URL", async () => {
  let requestedPath = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    requestedPath = new URL(request.url).pathname;
    return new Response(jwks, { headers: { "Content-Type": "application/json" } });
  });

  try {
    const authenticator = new Authenticator({ supabaseUrl: `http://127.0.0.1:${server.addr.port}` });
    const caller = await authenticator.authenticate(`Bearer ${await es256Token()}`);

    assert.equal(caller.userId, userId);
    assert.equal(requestedPath, "/auth/v1/.well-known/jwks.json");
  } finally {
    await server.shutdown();
  }
});

Deno.test("unreachable key set is 503", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => new Response());
  const port = server.addr.port;
  await server.shutdown();

  const error = await rejection(new Authenticator({ supabaseUrl: `http://127.0.0.1:${port}` }), `Bearer ${await es256Token()}`);

  assert.equal(error.status, 503);
  assert.equal(error.code, "auth_unavailable");
});
