/**
 * `publish-keys`: stores the caller's prekeys after verifying every
 * signature against the identity key, as Signal's server does.
 *
 * - `action: "publish"` adds or rotates prekeys under the stored identity.
 * - `action: "resetIdentity"` replaces the identity and deletes every
 *   prekey (`reset_identity`), then stores the new keys, all in one
 *   transaction. A routine upload never changes the identity.
 *
 * A bad signature on any key rejects the whole request (422) before
 * anything is written.
 */
import { type JsonValue, runAsCaller, type Transaction } from "../_shared/db.ts";
import { ApiError } from "../_shared/errors.ts";
import { createHandler } from "../_shared/http.ts";
import { decodeBase64Url } from "../_shared/keys.ts";
import { identitySchema, publishKeysRequestSchema, type PublishKeysRequest } from "../_shared/schemas.ts";
import { assertSignaturesValid } from "../_shared/signatures.ts";

/**
 * Reads the identity key of the caller's profile. Throws 404 when the caller
 * has no profile, and 409 when the profile has no usable identity key (the
 * database checks only the payload's format, not that the key is a valid
 * Ed25519 point).
 */
async function loadIdentityKey(sql: Transaction): Promise<string> {
  const rows = await sql`
    select payload
    from public.chat_participants
    where owner_id = (select auth.uid())
  `;

  if (rows.length === 0) {
    throw new ApiError(
      404,
      "profile_not_found",
      "the caller has no profile: claim one by inserting it into chat_participants, then publish keys",
    );
  }

  const payload = rows[0]!["payload"];
  if (payload === null) {
    throw new ApiError(
      409,
      "identity_missing",
      "the caller's profile has no identity key yet: publish one with action \"resetIdentity\"",
    );
  }

  const identity = identitySchema.safeParse(payload);
  if (!identity.success) {
    throw new ApiError(
      409,
      "identity_invalid",
      "the caller's identity key is not a valid Ed25519 public key: replace it with action \"resetIdentity\"",
    );
  }

  return identity.data.identityKey;
}

async function storePrekeys(sql: Transaction, request: PublishKeysRequest): Promise<unknown> {
  // Absent fields become SQL nulls, which publish_prekeys leaves unchanged.
  const asJson = (value: JsonValue | undefined) => (value === undefined ? null : sql.json(value));

  const [row] = await sql`
    select public.publish_prekeys(
      ${asJson(request.signedPrekey)}::jsonb,
      ${asJson(request.oneTimePrekeys)}::jsonb,
      ${asJson(request.kemPrekeys)}::jsonb,
      ${asJson(request.lastResortKemPrekey)}::jsonb
    ) as counts
  `;

  return row?.["counts"];
}

export default createHandler({
  name: "publish-keys",
  schema: publishKeysRequestSchema,

  async handle(request, { caller, log }) {
    const keyCounts = {
      signedPrekey: request.signedPrekey === undefined ? 0 : 1,
      oneTimePrekeys: request.oneTimePrekeys?.length ?? 0,
      kemPrekeys: request.kemPrekeys?.length ?? 0,
      lastResortKemPrekey: request.lastResortKemPrekey === undefined ? 0 : 1,
    };

    if (request.action === "resetIdentity") {
      // The new keys must verify against the new identity key before the old
      // identity is touched. This also proves the caller has the new key.
      assertSignaturesValid(decodeBase64Url(request.identity.identityKey)!, request);

      const counts = await runAsCaller(caller, async (sql) => {
        await sql`select public.reset_identity(${sql.json(request.identity)})`;
        return await storePrekeys(sql, request);
      });

      log.info({ keyCounts }, "identity reset and prekeys published");
      return counts;
    }

    const counts = await runAsCaller(caller, async (sql) => {
      const identityKey = await loadIdentityKey(sql);
      assertSignaturesValid(decodeBase64Url(identityKey)!, request);
      const stored = await storePrekeys(sql, request);

      // publish_prekeys holds the profile row lock until this transaction
      // ends, so a concurrent reset_identity either committed before that
      // lock and shows up in this second read, or runs afterwards and
      // deletes these keys itself.
      if (await loadIdentityKey(sql) !== identityKey) {
        throw new ApiError(
          409,
          "identity_changed",
          "the identity key changed while the keys were being stored; sign the keys with the new identity key and retry",
        );
      }

      return stored;
    });

    log.info({ keyCounts }, "prekeys published");
    return counts;
  },
});
