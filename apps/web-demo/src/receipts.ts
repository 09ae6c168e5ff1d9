/**
 * Delivery receipts: after a device commits a text message, it sends the
 * message ids back to the sender in an encrypted message of their own, as
 * Signal does. The server cannot tell them from chat messages.
 */

/** Content type of a receipt message. */
export const RECEIPT_CONTENT_TYPE = 'application/vnd.parley.receipt+json';

/** Receipts sent in one message at most; more ids are split over several. */
export const MAX_RECEIPT_IDS = 100;

/** Encodes the ids of delivered messages as a receipt body. */
export function encodeReceipt(messageIds: readonly string[]): string {
  return JSON.stringify({ v: 1, delivered: messageIds });
}

/** Returns the message ids of a receipt body, or an empty list for a malformed one. */
export function decodeReceipt(body: Uint8Array): string[] {
  try {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as { v?: unknown; delivered?: unknown };
    if (value.v !== 1 || !Array.isArray(value.delivered)) {
      return [];
    }
    return value.delivered.filter((id): id is string => typeof id === 'string').slice(0, MAX_RECEIPT_IDS);
  } catch {
    return [];
  }
}

/** Returns true for the content type of receipts (parameters and case ignored). */
export function isReceipt(contentType: string): boolean {
  return contentType.split(';')[0]!.trim().toLowerCase() === RECEIPT_CONTENT_TYPE;
}
