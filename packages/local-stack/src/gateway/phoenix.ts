/**
 * Encoding of Phoenix channel messages as @supabase/realtime-js 2.x speaks them. Protocol 1.0.0
 * sends JSON objects; 2.0.0 sends JSON arrays `[join_ref, ref, topic, event, payload]` and, for
 * broadcasts, binary frames: kind 3 (user broadcast push, client to server) and kind 4 (user
 * broadcast, server to client).
 */

export type ProtocolVersion = '1.0.0' | '2.0.0';

export interface PhoenixMessage {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

export class FrameError extends Error {}

const KIND_USER_BROADCAST_PUSH = 3;
const KIND_USER_BROADCAST = 4;
const ENCODING_BINARY = 0;
const ENCODING_JSON = 1;

function optionalString(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new FrameError(`"${field}" must be a string or null`);
}

function requiredString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new FrameError(`"${field}" must be a non-empty string`);
  return value;
}

/** Decodes a text frame; throws FrameError for anything that is not a Phoenix message. */
export function decodeText(text: string, version: ProtocolVersion): PhoenixMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FrameError('frame is not valid JSON');
  }

  if (version === '2.0.0') {
    if (!Array.isArray(parsed) || parsed.length !== 5) throw new FrameError('a 2.0.0 frame is a JSON array of 5 elements');
    const [joinRef, ref, topic, event, payload] = parsed as unknown[];
    return {
      joinRef: optionalString(joinRef, 'join_ref'),
      ref: optionalString(ref, 'ref'),
      topic: requiredString(topic, 'topic'),
      event: requiredString(event, 'event'),
      payload,
    };
  }

  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FrameError('a 1.0.0 frame is a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  return {
    joinRef: optionalString(record.join_ref, 'join_ref'),
    ref: optionalString(record.ref, 'ref'),
    topic: requiredString(record.topic, 'topic'),
    event: requiredString(record.event, 'event'),
    payload: record.payload,
  };
}

/** A broadcast received in a binary frame; `payload` is JSON or raw bytes depending on its encoding. */
export interface BinaryBroadcast {
  joinRef: string;
  ref: string;
  topic: string;
  event: string;
  metadata: Record<string, unknown> | undefined;
  payload: unknown;
  binary: boolean;
}

/** Decodes a kind 3 frame (user broadcast push). */
export function decodeBinary(frame: Buffer): BinaryBroadcast {
  if (frame.length < 7) throw new FrameError('binary frame is shorter than its 7-byte header');
  const kind = frame[0];
  if (kind !== KIND_USER_BROADCAST_PUSH) throw new FrameError(`binary frame kind ${kind} is not supported; only kind 3 (user broadcast push) is`);

  const lengths = [frame[1], frame[2], frame[3], frame[4], frame[5]] as number[];
  const encoding = frame[6];
  if (encoding !== ENCODING_BINARY && encoding !== ENCODING_JSON) throw new FrameError(`payload encoding ${encoding} is unknown`);

  let offset = 7;
  const fields: string[] = [];
  for (const length of lengths) {
    if (offset + length > frame.length) throw new FrameError('binary frame is shorter than the lengths in its header');
    fields.push(frame.subarray(offset, offset + length).toString('latin1'));
    offset += length;
  }
  const [joinRef, ref, topic, event, metadataText] = fields as [string, string, string, string, string];
  if (topic === '' || event === '') throw new FrameError('binary frame has an empty topic or event');

  let metadata: Record<string, unknown> | undefined;
  if (metadataText !== '') {
    try {
      metadata = JSON.parse(metadataText) as Record<string, unknown>;
    } catch {
      throw new FrameError('binary frame metadata is not valid JSON');
    }
  }

  const body = frame.subarray(offset);
  let payload: unknown = Buffer.from(body);
  if (encoding === ENCODING_JSON) {
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      throw new FrameError('binary frame payload is not valid JSON');
    }
  }
  return { joinRef, ref, topic, event, metadata, payload, binary: encoding === ENCODING_BINARY };
}

/** Encodes a message as a text frame for `version`. */
export function encodeText(message: PhoenixMessage, version: ProtocolVersion): string {
  if (version === '2.0.0') {
    return JSON.stringify([message.joinRef, message.ref, message.topic, message.event, message.payload]);
  }
  return JSON.stringify({
    topic: message.topic,
    event: message.event,
    payload: message.payload,
    ref: message.ref,
    join_ref: message.joinRef,
  });
}

/** Encodes a kind 4 frame (user broadcast) carrying raw bytes. */
export function encodeBinaryBroadcast(topic: string, event: string, payload: Buffer): Buffer {
  const topicBytes = Buffer.from(topic, 'latin1');
  const eventBytes = Buffer.from(event, 'latin1');
  const header = Buffer.from([KIND_USER_BROADCAST, topicBytes.length, eventBytes.length, 0, ENCODING_BINARY]);
  return Buffer.concat([header, topicBytes, eventBytes, payload]);
}
