/**
 * The message content: what the sender encrypts and the recipient decrypts
 * inside a topic's envelope. It carries a message id for deduplication, the
 * sender's clock, a MIME content type and the body bytes.
 *
 * Encoded as UTF-8 JSON:
 * `{ "v": 1, "id": "<UUID>", "sentAt": "<ISO 8601>", "contentType": "text/plain;charset=utf-8", "body": "<base64url>" }`
 */
import { z } from 'zod';

import { fromBase64UrlOrNull, toBase64Url } from '../protocol/encoding.ts';

/** Content type of text messages sent as a string. */
export const TEXT_CONTENT_TYPE = 'text/plain;charset=utf-8';

/** Version of the content encoding. */
export const CONTENT_VERSION = 1;

/** Largest content type accepted, in characters (RFC 6838 allows 127 + 1 + 127 plus parameters). */
export const MAX_CONTENT_TYPE_LENGTH = 255;

/** Decrypted message content. */
export interface MessageContent {
  /** Message id chosen by the sender (a UUID); the recipient drops a second copy with the same id. */
  id: string;
  /** Sender's clock when the message was sent, ISO 8601. Informational: the sender controls it. */
  sentAt: string;
  /** MIME type of `body`. */
  contentType: string;
  /** Message bytes. */
  body: Uint8Array;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const contentTypePattern = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;.*)?$/i;

const contentSchema = z.strictObject({
  v: z.literal(CONTENT_VERSION),
  id: z.string().regex(uuidPattern, { message: 'must be a lowercase UUID' }),
  sentAt: z.iso.datetime({ offset: true }),
  contentType: z
    .string()
    .max(MAX_CONTENT_TYPE_LENGTH)
    .regex(contentTypePattern, { message: 'must be a MIME type such as text/plain' }),
  body: z.string().refine((value) => fromBase64UrlOrNull(value) !== null, {
    message: 'must be base64url without padding',
  }),
});

/** Error of a malformed decrypted content. */
export class ContentError extends Error {
  override readonly name = 'ContentError';
}

/** Checks a content type and returns it, or throws a `RangeError` naming the value and the fix. */
export function validateContentType(contentType: string): string {
  if (contentType.length > MAX_CONTENT_TYPE_LENGTH || !contentTypePattern.test(contentType)) {
    throw new RangeError(
      `invalid content type ${JSON.stringify(contentType.slice(0, 80))}: pass a MIME type such as "application/octet-stream"`,
    );
  }
  return contentType;
}

/** Encodes content to the bytes that are encrypted. */
export function encodeContent(content: MessageContent): Uint8Array {
  const json = JSON.stringify({
    v: CONTENT_VERSION,
    id: content.id,
    sentAt: content.sentAt,
    contentType: content.contentType,
    body: toBase64Url(content.body),
  });
  return new TextEncoder().encode(json);
}

/**
 * Decodes decrypted bytes into content. Throws {@link ContentError} for
 * anything that is not exactly the documented shape.
 */
export function decodeContent(bytes: Uint8Array): MessageContent {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ContentError('invalid message content: not UTF-8 JSON');
  }

  const parsed = contentSchema.safeParse(value);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ContentError(`invalid message content: ${fields.join('; ')}`);
  }

  return {
    id: parsed.data.id,
    sentAt: parsed.data.sentAt,
    contentType: parsed.data.contentType,
    body: fromBase64UrlOrNull(parsed.data.body) as Uint8Array,
  };
}

/** Returns true for content types whose body is text. */
export function isTextContentType(contentType: string): boolean {
  return /^text\//i.test(contentType);
}
