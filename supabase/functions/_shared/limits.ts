/**
 * Limits the Edge Functions enforce before anything reaches the database.
 *
 * The database enforces its own copies of the key caps (per upload and
 * stored per profile). These values reject oversized requests before they
 * cost a connection and a signature check per key.
 */

/** Maximum keys of one kind in one `publish-keys` call, as the database allows per upload. */
export const MAX_KEYS_PER_UPLOAD = 100;

/** Maximum topic ids in one `acknowledge-topics` call, as `acknowledge_topics` accepts. */
export const MAX_TOPIC_IDS_PER_CALL = 1_000;

/** Largest key id a client may assign (the range of a PostgreSQL `integer`). */
export const MAX_KEY_ID = 2_147_483_647;

/**
 * Maximum request body bytes per function. A full `publish-keys` upload is
 * about 230 KB: 100 KEM prekeys of 2,091 + 86 base64url characters, 100 EC
 * prekeys, and the signed and last-resort keys with their JSON around them.
 */
export const MAX_BODY_BYTES = {
  "prekey-bundle": 4 * 1024,
  "acknowledge-topics": 64 * 1024,
  "publish-keys": 512 * 1024,
} as const;

/** Seconds a client waits after a rate-limited bundle claim when the database names no time. */
export const DEFAULT_RETRY_AFTER_SECONDS = 60;

/** Connections one function instance keeps open to PostgreSQL. */
export const DATABASE_POOL_SIZE = 4;
