/**
 * The versioned JSON envelope stored in `chat_topics.payload`, and its strict
 * parser. The format is documented in packages/client/README.md.
 */
import { z } from 'zod';

import {
  ML_KEM_1024_CIPHERTEXT_BYTES,
  MAX_COUNTER,
  MAX_KEY_ID,
  MAX_PLAINTEXT_BYTES,
  PROTOCOL_VERSION,
  X25519_KEY_BYTES,
  ED25519_PUBLIC_KEY_BYTES,
} from './constants.ts';
import { base64UrlLength, fromBase64UrlOrNull } from './encoding.ts';
import { ProtocolError } from './errors.ts';

/** AES-256-GCM authentication tag length in bytes. */
const TAG_BYTES = 16;

/** A Double Ratchet message: the header fields and the AEAD ciphertext. */
export interface MessageEnvelope {
  v: 1;
  type: 'message';
  /** Sender's current ratchet public key (X25519, 43 chars). */
  ratchetKey: string;
  /** Number of messages in the sender's previous sending chain (`PN`). */
  previousCounter: number;
  /** Index of this message in the sender's current sending chain (`N`). */
  counter: number;
  /** AES-256-GCM ciphertext with its 16-byte tag. */
  ciphertext: string;
}

/** The first messages of a session: a ratchet message plus the PQXDH data that lets the recipient derive the session. */
export interface PrekeyEnvelope extends Omit<MessageEnvelope, 'type'> {
  type: 'prekey';
  /** Sender's Ed25519 identity key (43 chars). */
  identityKey: string;
  /** Sender's ephemeral X25519 key `EK_A` (43 chars). */
  baseKey: string;
  signedPrekeyId: number;
  /** Id of the one-time EC prekey used, or null when the bundle had none. */
  oneTimePrekeyId: number | null;
  /** Id of the one-time or last-resort ML-KEM-1024 prekey used. */
  kemPrekeyId: number;
  /** ML-KEM-1024 ciphertext (1568 bytes, 2091 chars). */
  kemCiphertext: string;
}

export type Envelope = MessageEnvelope | PrekeyEnvelope;

function fixedBytes(byteLength: number, what: string) {
  const length = base64UrlLength(byteLength);
  return z.string().refine((value) => value.length === length && fromBase64UrlOrNull(value) !== null, {
    message: `must be ${what}: ${length} characters of base64url without padding (${byteLength} bytes)`,
  });
}

/**
 * Builds the schema of an X25519 public key with bit 255 clear. RFC 7748
 * ignores that bit, so a set bit would be a second encoding of the same key.
 * Rejecting it makes every bit of the envelope matter.
 */
export function x25519PublicKey() {
  const length = base64UrlLength(X25519_KEY_BYTES);
  return z.string().refine(
    (value) => {
      const bytes = value.length === length ? fromBase64UrlOrNull(value) : null;
      return bytes !== null && bytes[X25519_KEY_BYTES - 1]! < 0x80;
    },
    { message: `must be an X25519 public key: ${length} characters of base64url without padding (32 bytes, bit 255 clear)` },
  );
}

const keyId = z
  .number()
  .int()
  .min(1)
  .max(MAX_KEY_ID, { message: `must be an integer from 1 to ${MAX_KEY_ID}` });

const counter = z.number().int().min(0).max(MAX_COUNTER, { message: `must be an integer from 0 to ${MAX_COUNTER}` });

const maxCiphertextChars = base64UrlLength(MAX_PLAINTEXT_BYTES + TAG_BYTES);

const ciphertext = z.string().refine(
  (value) => {
    if (value.length > maxCiphertextChars) {
      return false;
    }
    const bytes = fromBase64UrlOrNull(value);
    return bytes !== null && bytes.length >= TAG_BYTES;
  },
  { message: `must be base64url without padding of ${TAG_BYTES} to ${MAX_PLAINTEXT_BYTES + TAG_BYTES} bytes` },
);

const messageFields = {
  v: z.literal(PROTOCOL_VERSION),
  ratchetKey: x25519PublicKey(),
  previousCounter: counter,
  counter,
  ciphertext,
};

const messageSchema = z.strictObject({ ...messageFields, type: z.literal('message') });

const prekeySchema = z.strictObject({
  ...messageFields,
  type: z.literal('prekey'),
  identityKey: fixedBytes(ED25519_PUBLIC_KEY_BYTES, 'an Ed25519 public key'),
  baseKey: x25519PublicKey(),
  signedPrekeyId: keyId,
  oneTimePrekeyId: keyId.nullable(),
  kemPrekeyId: keyId,
  kemCiphertext: fixedBytes(ML_KEM_1024_CIPHERTEXT_BYTES, 'an ML-KEM-1024 ciphertext'),
});

const envelopeSchema = z.discriminatedUnion('type', [messageSchema, prekeySchema]);

/**
 * Parses an envelope from JSON text or an already parsed value (such as
 * `chat_topics.payload` from supabase-js). Throws ProtocolError with code
 * `unsupported_version` for another version and `invalid_envelope` for
 * anything else that does not match the format exactly.
 */
export function parseEnvelope(input: unknown): Envelope {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new ProtocolError('invalid_envelope', 'Invalid envelope: the text is not valid JSON; pass the topic payload unchanged');
    }
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('invalid_envelope', 'Invalid envelope: expected a JSON object with "v" and "type"');
  }

  const version = (value as { v?: unknown }).v;
  if (version !== PROTOCOL_VERSION) {
    if (typeof version === 'number') {
      throw new ProtocolError(
        'unsupported_version',
        `Unsupported envelope version ${version}: this SDK reads version ${PROTOCOL_VERSION}; update the SDK`,
      );
    }
    throw new ProtocolError('invalid_envelope', `Invalid envelope: "v" must be the number ${PROTOCOL_VERSION}`);
  }

  const result = envelopeSchema.safeParse(value);
  if (!result.success) {
    throw new ProtocolError('invalid_envelope', `Invalid envelope: ${describeIssues(result.error)}`);
  }

  return result.data as Envelope;
}

/** Serializes an envelope to its JSON text after checking it against the format. */
export function encodeEnvelope(envelope: Envelope): string {
  return JSON.stringify(parseEnvelope(envelope));
}

/** Formats zod issues as "field: problem" pairs without echoing values. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      if (issue.code === 'unrecognized_keys') {
        return `${path}: unknown field(s) ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
      }
      if (issue.code === 'invalid_type' && issue.input === undefined) {
        return `${path}: missing`;
      }
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
