import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { decodeBinary, decodeText, encodeBinaryBroadcast, encodeText, FrameError } from '../../src/gateway/phoenix.ts';

// realtime-js's own serializer encodes what the client sends and decodes what it receives.
const require = createRequire(import.meta.url);
const Serializer = (require('@supabase/realtime-js/dist/main/lib/serializer.js') as { default: new () => any }).default;
const serializer = new Serializer();

function clientEncode(message: Record<string, unknown>): Buffer | string {
  let encoded: ArrayBuffer | string = '';
  serializer.encode(message, (result: ArrayBuffer | string) => {
    encoded = result;
  });
  return typeof encoded === 'string' ? encoded : Buffer.from(encoded);
}

describe('phoenix frames', () => {
  it('decodes the binary push realtime-js sends for JSON payloads', () => {
    const frame = clientEncode({ join_ref: '1', ref: '2', topic: 'realtime:room', event: 'broadcast', payload: { type: 'broadcast', event: 'ping', payload: { n: 1 } } });
    expect(decodeBinary(frame as Buffer)).toMatchObject({ joinRef: '1', ref: '2', topic: 'realtime:room', event: 'ping', payload: { n: 1 }, binary: false });
  });

  it('decodes the binary push realtime-js sends for bytes', () => {
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    const frame = clientEncode({ join_ref: '1', ref: '2', topic: 'realtime:room', event: 'broadcast', payload: { type: 'broadcast', event: 'raw', payload: bytes } });
    const decoded = decodeBinary(frame as Buffer);
    expect(decoded.binary).toBe(true);
    expect([...(decoded.payload as Buffer)]).toEqual([1, 2, 3]);
  });

  it('encodes a binary broadcast realtime-js decodes', () => {
    const frame = encodeBinaryBroadcast('realtime:room', 'raw', Buffer.from([9, 8]));
    const arrayBuffer = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length);
    serializer.decode(arrayBuffer, (message: { topic: string; payload: { event: string; payload: ArrayBuffer } }) => {
      expect(message.topic).toBe('realtime:room');
      expect(message.payload.event).toBe('raw');
      expect([...new Uint8Array(message.payload.payload)]).toEqual([9, 8]);
    });
  });

  it('round-trips text frames in both protocol versions', () => {
    const message = { joinRef: '1', ref: '2', topic: 't', event: 'e', payload: { a: 1 } };
    expect(decodeText(encodeText(message, '2.0.0'), '2.0.0')).toEqual(message);
    expect(decodeText(encodeText(message, '1.0.0'), '1.0.0')).toEqual(message);
  });

  it.each([
    ['not JSON', 'x'],
    ['an object in 2.0.0', '{}'],
    ['four elements', '[1,2,3,4]'],
    ['a null topic', '[null,null,null,"e",{}]'],
  ])('rejects %s', (_name, text) => {
    expect(() => decodeText(text, '2.0.0')).toThrow(FrameError);
  });
});
