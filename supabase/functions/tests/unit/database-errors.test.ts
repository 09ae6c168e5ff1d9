import assert from "node:assert/strict";

import { mapDatabaseError, retryAfterSeconds } from "../../_shared/database-errors.ts";
import { isDatabaseError } from "../../_shared/errors.ts";
import { DEFAULT_RETRY_AFTER_SECONDS } from "../../_shared/limits.ts";

Deno.test("SQLSTATE to status and code", () => {
  const cases: Array<[string, number, string]> = [
    ["P0002", 404, "profile_not_found"],
    ["PT429", 429, "rate_limited"],
    ["42501", 403, "forbidden"],
    ["23505", 409, "duplicate_key_id"],
    ["22023", 400, "invalid_request"],
    ["23514", 500, "internal_error"],
    ["XX000", 500, "internal_error"],
  ];

  for (const [code, status, errorCode] of cases) {
    const mapped = mapDatabaseError({ code, message: "relation \"secret_table\" is broken" }, "req-1");
    assert.equal(mapped.status, status, code);
    assert.equal(mapped.code, errorCode, code);
    assert.doesNotMatch(mapped.message, /secret_table/, `${code} leaks the database message`);
  }
});

Deno.test("internal error quotes the request id", () => {
  assert.match(mapDatabaseError({ code: "XX000", message: "boom" }, "req-42").message, /request id req-42/);
});

Deno.test("rate limit carries Retry-After", () => {
  const mapped = mapDatabaseError({ code: "PT429", message: "rate limited", hint: "retry in 120 seconds" }, "req-1");

  assert.equal(mapped.headers["Retry-After"], "120");
  assert.match(mapped.message, /retry after 120 seconds/);
});

Deno.test("retry time from detail, hint or message", () => {
  assert.equal(retryAfterSeconds({ code: "PT429", message: "x", detail: "wait 30 seconds" }), 30);
  assert.equal(retryAfterSeconds({ code: "PT429", message: "x", hint: "retry after 5s" }), 5);
  assert.equal(retryAfterSeconds({ code: "PT429", message: "limit reached, retry in 1 second" }), 1);
  assert.equal(retryAfterSeconds({ code: "PT429", message: "limit reached, retry in 0 seconds" }), 1);
  assert.equal(retryAfterSeconds({ code: "PT429", message: "limit reached" }), DEFAULT_RETRY_AFTER_SECONDS);
});

Deno.test("database errors are recognized by name and SQLSTATE", () => {
  const postgresError = Object.assign(new Error("boom"), { name: "PostgresError", code: "P0002" });

  assert.ok(isDatabaseError(postgresError));
  assert.ok(!isDatabaseError(Object.assign(new Error("boom"), { code: "ECONNREFUSED" })));
  assert.ok(!isDatabaseError(Object.assign(new Error("boom"), { name: "PostgresError", code: "ECONNREFUSED" })));
  assert.ok(!isDatabaseError("P0002"));
  assert.ok(!isDatabaseError(null));
});

Deno.test("stored prekey cap is 409", () => {
  const mapped = mapDatabaseError(
    {
      code: "22023",
      message: 'kem_prekeys would bring profile "bob" to 1001 stored one_time_kem prekeys, more than the maximum of 1000',
      hint: "1000 are stored; upload at most 0 more.",
    },
    "req-1",
  );

  assert.equal(mapped.status, 409);
  assert.equal(mapped.code, "prekey_limit_reached");
  assert.match(mapped.message, /^kemPrekeys: 1000 keys of this kind are stored, so at most 0 more fit/);
  assert.doesNotMatch(mapped.message, /bob/);
});
