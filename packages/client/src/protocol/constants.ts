/**
 * Protocol limits and labels, each with the reason for its value.
 */

/** Version of the envelope, of the serialized states and of the byte encodings below. */
export const PROTOCOL_VERSION = 1 as const;

/**
 * Most message keys one incoming message may skip in one receiving chain.
 * Bounds the work an attacker can force with a large counter, while still
 * tolerating long bursts of lost or reordered messages.
 */
export const MAX_SKIP = 1000;

/**
 * Most skipped message keys a session stores across all chains; the oldest
 * are evicted first. Bounds the size of the serialized session.
 */
export const MAX_STORED_SKIPPED_KEYS = 2000;

/**
 * Earlier receiving chains whose ratchet keys a session remembers, so that a
 * replayed message from such a chain is reported as a duplicate rather than
 * as a failed decryption.
 */
export const MAX_PREVIOUS_RECEIVING_CHAINS = 8;

/**
 * Earlier sessions kept per contact besides the current one. Both sides may
 * start a session at the same time; keeping a few lets messages for either
 * session decrypt until the conversation settles on one.
 */
export const MAX_PREVIOUS_SESSIONS = 4;

/** How often the signed EC prekey is replaced: 7 days, in milliseconds. */
export const SIGNED_PREKEY_ROTATION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * How long a replaced signed prekey stays usable: 30 days, in milliseconds.
 * A first message may wait in the inbox for a while after the sender fetched
 * the bundle; this is the longest wait that still decrypts.
 */
export const SIGNED_PREKEY_GRACE_MS = 30 * 24 * 60 * 60 * 1000;

/** One-time EC and one-time KEM prekeys generated per batch. */
export const PREKEY_BATCH_SIZE = 100;

/** Largest prekey id; ids are positive signed 32-bit integers. */
export const MAX_KEY_ID = 2147483647;

/** Largest ratchet message counter (`N` and `PN`); the header stores them as uint32. */
export const MAX_COUNTER = 0xffffffff;

/**
 * Largest plaintext `encryptMessage` accepts: 46 KiB. With it, the largest
 * possible prekey envelope is 65,306 bytes as PostgreSQL's jsonb text, within
 * the database's default `topic_payload_max_bytes` of 65,536.
 */
export const MAX_PLAINTEXT_BYTES = 46 * 1024;

/** Type byte in front of an encoded X25519 public key, as Signal encodes them. */
export const EC_KEY_TYPE = 0x05;

/** Type byte in front of an encoded ML-KEM-1024 public key, as Signal encodes them. */
export const KEM_KEY_TYPE = 0x08;

export const X25519_KEY_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const ML_KEM_1024_PUBLIC_KEY_BYTES = 1568;
export const ML_KEM_1024_CIPHERTEXT_BYTES = 1568;
export const ML_KEM_SEED_BYTES = 64;

/** PQXDH info string: application name, curve, hash and KEM, as the PQXDH specification requires. */
export const PQXDH_INFO = 'Parley_CURVE25519_SHA-256_ML-KEM-1024';

/** HKDF info of the root-key KDF (`KDF_RK`). */
export const ROOT_KDF_INFO = 'Parley_Ratchet_RootKey';

/** HKDF info that turns a message key into an AES-256-GCM key and nonce. */
export const MESSAGE_KEY_INFO = 'Parley_Ratchet_MessageKeys';

/** Version of the numeric safety number; part of its hash input. */
export const FINGERPRINT_VERSION = 0;

/** SHA-512 iterations per side of a safety number, as Signal's numeric fingerprint. */
export const FINGERPRINT_ITERATIONS = 5200;
