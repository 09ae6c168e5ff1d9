/**
 * Request body schemas of the three functions, in the formats of
 * docs/formats.md, and the conversion of validation failures into one
 * caller-facing error that names the field and the fix.
 */
import { z } from "npm:zod@4.6.7";

import { ApiError } from "./errors.ts";
import {
  base64UrlLength,
  decodeBase64Url,
  isCanonicalX25519PublicKey,
  isValidIdentityKey,
  isValidMlKem1024PublicKey,
  KEY_BYTES,
} from "./keys.ts";
import { MAX_KEY_ID, MAX_KEYS_PER_UPLOAD, MAX_TOPIC_IDS_PER_CALL } from "./limits.ts";

/** Profile names as docs/formats.md defines them. */
export const PROFILE_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;

/**
 * Builds the schema of a canonical base64url string of `byteLength` bytes.
 * Its checks abort on failure, so later refinements only see decodable text
 * of the right length.
 */
function base64UrlBytes(byteLength: number, description: string) {
  const length = base64UrlLength(byteLength);

  return z
    .string({ error: `expected a string: ${description} as ${length} base64url characters` })
    .length(length, {
      error: (issue) =>
        `expected ${length} base64url characters (${description}, ${byteLength} bytes), got ${
          String(issue.input).length
        }`,
      abort: true,
    })
    .refine((text) => decodeBase64Url(text) !== undefined, {
      error: `invalid base64url: use the alphabet A-Z a-z 0-9 - _ without padding (${description})`,
      abort: true,
    });
}

const keyIdSchema = z
  .number({ error: `expected keyId as an integer from 1 to ${MAX_KEY_ID}` })
  .int({ error: `expected keyId as an integer from 1 to ${MAX_KEY_ID}` })
  .min(1, { error: `keyId must be at least 1` })
  .max(MAX_KEY_ID, { error: `keyId must be at most ${MAX_KEY_ID}` });

const x25519PublicKeySchema = base64UrlBytes(KEY_BYTES.x25519, "an X25519 public key").refine(
  (text) => isCanonicalX25519PublicKey(decodeBase64Url(text)!),
  { error: "invalid X25519 public key: bit 255 is set; send the key as X25519 produced it (RFC 7748 section 5)" },
);

const mlKemPublicKeySchema = base64UrlBytes(
  KEY_BYTES.mlKem1024,
  "an ML-KEM-1024 encapsulation key",
).refine((text) => isValidMlKem1024PublicKey(decodeBase64Url(text)!), {
  error: "invalid ML-KEM-1024 encapsulation key: a coefficient is not below q = 3329 " +
    "(FIPS 203 modulus check); send the key as ML-KEM-1024 KeyGen produced it",
});

const signatureSchema = base64UrlBytes(KEY_BYTES.signature, "an Ed25519 signature");

const identityKeySchema = base64UrlBytes(KEY_BYTES.identityKey, "an Ed25519 public key").refine(
  (text) => isValidIdentityKey(decodeBase64Url(text)!),
  { error: "invalid Ed25519 public key: not a canonical point of large order" },
);

/** The identity payload stored in `chat_participants.payload`. */
export const identitySchema = z.strictObject({
  v: z.literal(1, { error: "expected v: 1, the only identity payload version" }),
  identityKey: identityKeySchema,
});

export const signedPrekeySchema = z.strictObject({
  keyId: keyIdSchema,
  publicKey: x25519PublicKeySchema,
  signature: signatureSchema,
});

export const oneTimePrekeySchema = z.strictObject({
  keyId: keyIdSchema,
  publicKey: x25519PublicKeySchema,
});

export const kemPrekeySchema = z.strictObject({
  keyId: keyIdSchema,
  publicKey: mlKemPublicKeySchema,
  signature: signatureSchema,
});

/** Builds the schema of a batch of at most MAX_KEYS_PER_UPLOAD keys with distinct key ids. */
function keyBatch<Key extends z.ZodType<{ keyId: number }>>(key: Key, name: string) {
  return z
    .array(key, { error: `expected ${name} as an array of keys` })
    .max(MAX_KEYS_PER_UPLOAD, {
      error: (issue) =>
        `${name} has ${(issue.input as unknown[]).length} keys, more than ${MAX_KEYS_PER_UPLOAD} ` +
        `per call; upload them in batches of at most ${MAX_KEYS_PER_UPLOAD}`,
    })
    .superRefine((keys, context) => {
      const seen = new Set<number>();

      keys.forEach((entry, index) => {
        if (seen.has(entry.keyId)) {
          context.addIssue({
            code: "custom",
            path: [index, "keyId"],
            message: `keyId ${entry.keyId} appears more than once in ${name}; give each key its own id`,
          });
        }
        seen.add(entry.keyId);
      });
    });
}

const prekeyFields = {
  oneTimePrekeys: keyBatch(oneTimePrekeySchema, "oneTimePrekeys").optional(),
  kemPrekeys: keyBatch(kemPrekeySchema, "kemPrekeys").optional(),
};

/** `publish-keys` with `action: "publish"`: adds or rotates prekeys under the stored identity. */
export const publishRequestSchema = z
  .strictObject({
    action: z.literal("publish"),
    signedPrekey: signedPrekeySchema.optional(),
    ...prekeyFields,
    lastResortKemPrekey: kemPrekeySchema.optional(),
  })
  .refine(
    (request) =>
      request.signedPrekey !== undefined ||
      request.lastResortKemPrekey !== undefined ||
      (request.oneTimePrekeys?.length ?? 0) > 0 ||
      (request.kemPrekeys?.length ?? 0) > 0,
    {
      error: "nothing to publish: send at least one of signedPrekey, oneTimePrekeys, " +
        "kemPrekeys, lastResortKemPrekey",
    },
  );

/**
 * `publish-keys` with `action: "resetIdentity"`: replaces the identity and all
 * prekeys. The signed prekey and last-resort KEM prekey are required, so the
 * new bundle is complete and the caller proves it has the new identity key.
 */
export const resetIdentityRequestSchema = z.strictObject({
  action: z.literal("resetIdentity"),
  identity: identitySchema,
  signedPrekey: signedPrekeySchema,
  ...prekeyFields,
  lastResortKemPrekey: kemPrekeySchema,
});

export const publishKeysRequestSchema = z.discriminatedUnion(
  "action",
  [publishRequestSchema, resetIdentityRequestSchema],
  {
    error: 'expected action "publish" (add or rotate prekeys) or "resetIdentity" ' +
      "(replace the identity key and every prekey)",
  },
);

export type PublishRequest = z.infer<typeof publishRequestSchema>;
export type ResetIdentityRequest = z.infer<typeof resetIdentityRequestSchema>;
export type PublishKeysRequest = z.infer<typeof publishKeysRequestSchema>;
export type SignedPrekey = z.infer<typeof signedPrekeySchema>;
export type OneTimePrekey = z.infer<typeof oneTimePrekeySchema>;
export type KemPrekey = z.infer<typeof kemPrekeySchema>;
export type Identity = z.infer<typeof identitySchema>;

export const prekeyBundleRequestSchema = z.strictObject({
  profile: z
    .string({ error: "expected profile as a string, the profile name whose bundle to claim" })
    .regex(PROFILE_PATTERN, {
      error: "invalid profile name: use 3 to 64 characters of a-z, 0-9, '.', '_' and '-', " +
        "starting with a letter or digit",
    }),
});

export type PrekeyBundleRequest = z.infer<typeof prekeyBundleRequestSchema>;

const topicIdSchema = z
  .number({ error: "expected a topic id as an integer" })
  .int({ error: "expected a topic id as an integer" })
  .min(1, { error: "topic ids start at 1" })
  .max(Number.MAX_SAFE_INTEGER, {
    error: `topic id above ${Number.MAX_SAFE_INTEGER} cannot be sent exactly as a JSON number`,
  });

export const acknowledgeTopicsRequestSchema = z.strictObject({
  topicIds: z
    .array(topicIdSchema, { error: "expected topicIds as an array of topic ids" })
    .min(1, { error: "topicIds is empty; send 1 to 1,000 topic ids" })
    .max(MAX_TOPIC_IDS_PER_CALL, {
      error: (issue) =>
        `topicIds has ${(issue.input as unknown[]).length} ids, more than ` +
        `${MAX_TOPIC_IDS_PER_CALL} per call; acknowledge them in batches of at most ` +
        `${MAX_TOPIC_IDS_PER_CALL}`,
    }),
});

export type AcknowledgeTopicsRequest = z.infer<typeof acknowledgeTopicsRequestSchema>;

/** Formats a validation path as `kemPrekeys[3].publicKey`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";

  for (const segment of path) {
    if (typeof segment === "number") {
      text += `[${segment}]`;
    } else {
      text += text === "" ? String(segment) : `.${String(segment)}`;
    }
  }

  return text;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : "";

  if (issue.code === "unrecognized_keys") {
    const fields = issue.keys.map((key) => `"${key}"`).join(", ");
    const hint = issue.keys.includes("identity")
      ? '; an identity is only accepted with action "resetIdentity"'
      : "; remove it";
    return `${where}unknown field ${fields}${hint}`;
  }

  // The batch size messages name their field already.
  if (issue.code === "too_big" && issue.origin === "array") {
    return issue.message;
  }

  if (issue.code === "invalid_type" && issue.path.length === 0) {
    return "request body must be a JSON object";
  }

  if (issue.code === "invalid_type" && issue.input === undefined) {
    return `${where}missing required field`;
  }

  return `${where}${issue.message}`;
}

/**
 * Validates a parsed JSON body against a schema. Throws an ApiError naming
 * the first invalid field (400 `invalid_request`), or 400 `batch_too_large`
 * when an array is over its per-call limit.
 */
export function parseRequest<Schema extends z.ZodType>(
  schema: Schema,
  body: unknown,
): z.infer<Schema> {
  // With reportInput, a missing field (input undefined) differs from a wrong type.
  const result = schema.safeParse(body, { reportInput: true });

  if (result.success) {
    return result.data;
  }

  const issues = result.error.issues;
  const oversized = issues.find((issue) => issue.code === "too_big" && issue.origin === "array");

  if (oversized !== undefined) {
    throw new ApiError(400, "batch_too_large", describeIssue(oversized));
  }

  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : "";
  throw new ApiError(400, "invalid_request", `${describeIssue(first)}${more}`);
}
