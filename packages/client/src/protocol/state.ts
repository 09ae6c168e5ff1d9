/**
 * Versioned serialization of account and session states. Both are JSON-safe
 * already. The readers check a stored value strictly, so a damaged or
 * foreign value is reported instead of being used.
 */
import { z } from 'zod';

import type { AccountState } from './account.ts';
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SEED_BYTES,
  MAX_COUNTER,
  MAX_KEY_ID,
  MAX_PREVIOUS_RECEIVING_CHAINS,
  MAX_PREVIOUS_SESSIONS,
  MAX_STORED_SKIPPED_KEYS,
  ML_KEM_1024_CIPHERTEXT_BYTES,
  ML_KEM_1024_PUBLIC_KEY_BYTES,
  ML_KEM_SEED_BYTES,
  PROTOCOL_VERSION,
  SIGNATURE_BYTES,
  X25519_KEY_BYTES,
} from './constants.ts';
import { base64UrlLength, fromBase64UrlOrNull } from './encoding.ts';
import { describeIssues } from './envelope.ts';
import { ProtocolError } from './errors.ts';
import type { SessionRecord } from './session.ts';

function bytes(byteLength: number) {
  const length = base64UrlLength(byteLength);
  return z.string().refine((value) => value.length === length && fromBase64UrlOrNull(value) !== null, {
    message: `must be ${length} characters of base64url (${byteLength} bytes)`,
  });
}

const key32 = bytes(32);
const keyId = z.number().int().min(1).max(MAX_KEY_ID);
const nextId = z.number().int().min(1).max(MAX_KEY_ID + 1);
const counter = z.number().int().min(0).max(MAX_COUNTER + 1);
const time = z.number().int().min(0);
const keyPair = z.strictObject({ publicKey: bytes(X25519_KEY_BYTES), privateKey: key32 });

const kemPrekey = z.strictObject({
  keyId,
  publicKey: bytes(ML_KEM_1024_PUBLIC_KEY_BYTES),
  seed: bytes(ML_KEM_SEED_BYTES),
  signature: bytes(SIGNATURE_BYTES),
  createdAt: time,
  replacedAt: time.nullable(),
});

const accountSchema = z.strictObject({
  format: z.literal('parley.account'),
  v: z.literal(PROTOCOL_VERSION),
  identity: z.strictObject({ publicKey: bytes(ED25519_PUBLIC_KEY_BYTES), privateKey: bytes(ED25519_SEED_BYTES) }),
  signedPrekeys: z
    .array(
      z.strictObject({
        keyId,
        publicKey: bytes(X25519_KEY_BYTES),
        privateKey: key32,
        signature: bytes(SIGNATURE_BYTES),
        createdAt: time,
        replacedAt: time.nullable(),
      }),
    )
    .min(1),
  oneTimePrekeys: z.array(z.strictObject({ keyId, publicKey: bytes(X25519_KEY_BYTES), privateKey: key32 })),
  kemPrekeys: z.array(kemPrekey),
  lastResortKemPrekeys: z.array(kemPrekey).min(1),
  nextSignedPrekeyId: nextId,
  nextOneTimePrekeyId: nextId,
  nextKemPrekeyId: nextId,
});

const chain = z.strictObject({ chainKey: key32, counter });

const ratchetSchema = z.strictObject({
  rootKey: key32,
  sendingRatchetKey: keyPair,
  sendingChain: chain.nullable(),
  receivingRatchetKey: key32.nullable(),
  receivingChain: chain.nullable(),
  previousCounter: counter,
  previousReceivingChains: z.array(z.strictObject({ ratchetKey: key32, counter })).max(MAX_PREVIOUS_RECEIVING_CHAINS),
  skippedMessageKeys: z.array(z.strictObject({ ratchetKey: key32, counter, messageKey: key32 })).max(MAX_STORED_SKIPPED_KEYS),
});

const initiationSchema = z.strictObject({
  identityKey: bytes(ED25519_PUBLIC_KEY_BYTES),
  baseKey: key32,
  signedPrekeyId: keyId,
  oneTimePrekeyId: keyId.nullable(),
  kemPrekeyId: keyId,
  kemCiphertext: bytes(ML_KEM_1024_CIPHERTEXT_BYTES),
});

const sessionSchema = z.strictObject({
  role: z.enum(['initiator', 'responder']),
  localIdentityKey: bytes(ED25519_PUBLIC_KEY_BYTES),
  remoteIdentityKey: bytes(ED25519_PUBLIC_KEY_BYTES),
  initiation: initiationSchema.nullable(),
  awaitingReply: z.boolean(),
  ratchet: ratchetSchema,
  createdAt: time,
});

const recordSchema = z.strictObject({
  format: z.literal('parley.session'),
  v: z.literal(PROTOCOL_VERSION),
  sessions: z.array(sessionSchema).max(1 + MAX_PREVIOUS_SESSIONS),
});

/** Serializes an account state to JSON text. The text contains private keys. */
export function serializeAccount(account: AccountState): string {
  return JSON.stringify(account);
}

/** Reads an account state from JSON text or a parsed value; throws `invalid_state` or `unsupported_version`. */
export function deserializeAccount(input: unknown): AccountState {
  return parseState(input, 'parley.account', 'account', accountSchema) as AccountState;
}

/** Serializes a session record to JSON text. The text contains private keys. */
export function serializeSessionRecord(record: SessionRecord): string {
  return JSON.stringify(record);
}

/** Reads a session record from JSON text or a parsed value; throws `invalid_state` or `unsupported_version`. */
export function deserializeSessionRecord(input: unknown): SessionRecord {
  return parseState(input, 'parley.session', 'session record', recordSchema) as SessionRecord;
}

function parseState(input: unknown, format: string, what: string, schema: z.ZodType): unknown {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new ProtocolError('invalid_state', `Invalid ${what} state: the text is not valid JSON`);
    }
  }

  if (typeof value !== 'object' || value === null || (value as { format?: unknown }).format !== format) {
    throw new ProtocolError('invalid_state', `Invalid ${what} state: expected an object with "format": "${format}"`);
  }
  const version = (value as { v?: unknown }).v;
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      'unsupported_version',
      `Unsupported ${what} state version ${JSON.stringify(version)}: this SDK reads version ${PROTOCOL_VERSION}; update the SDK`,
    );
  }

  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ProtocolError('invalid_state', `Invalid ${what} state: ${describeIssues(result.error)}`);
  }
  return result.data;
}
