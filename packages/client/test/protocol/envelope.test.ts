import { describe, expect, it } from 'vitest';

import { encodeEnvelope, encryptMessage, initiateSession, limits, parseEnvelope, ProtocolError, type Envelope } from '../../src/protocol/index.ts';
import { fromBase64UrlOrNull, toBase64Url } from '../../src/protocol/encoding.ts';
import { bundleOf, smallAccount } from './helpers.ts';

const key = toBase64Url(new Uint8Array(32).fill(7));
const kemCiphertext = toBase64Url(new Uint8Array(1568).fill(9));

const message = {
  v: 1,
  type: 'message',
  ratchetKey: key,
  previousCounter: 2,
  counter: 5,
  ciphertext: toBase64Url(new Uint8Array(20).fill(1)),
} as const;

const prekey = {
  ...message,
  type: 'prekey',
  identityKey: key,
  baseKey: key,
  signedPrekeyId: 1,
  oneTimePrekeyId: null,
  kemPrekeyId: 7,
  kemCiphertext,
} as const;

function parseError(input: unknown): ProtocolError {
  try {
    parseEnvelope(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return error as ProtocolError;
  }
  throw new Error('parseEnvelope accepted the input');
}

describe('parseEnvelope', () => {
  it('accepts both types as text and as objects', () => {
    expect(parseEnvelope(JSON.stringify(message))).toEqual(message);
    expect(parseEnvelope(prekey)).toEqual(prekey);
    expect(parseEnvelope({ ...prekey, oneTimePrekeyId: 3 })).toEqual({ ...prekey, oneTimePrekeyId: 3 });
  });

  it('rejects unknown versions as unsupported', () => {
    for (const v of [0, 2, 1.5]) {
      const error = parseError({ ...message, v });
      expect(error.code).toBe('unsupported_version');
      expect(error.message).toContain(String(v));
    }
    expect(parseError({ ...message, v: '1' }).code).toBe('invalid_envelope');
  });

  it('rejects text that is not a JSON object', () => {
    for (const input of ['{', '', '[]', 'null', '"text"', '1', [], null, 5]) {
      expect(parseError(input).code).toBe('invalid_envelope');
    }
  });

  it('rejects an unknown type', () => {
    expect(parseError({ ...message, type: 'receipt' }).code).toBe('invalid_envelope');
  });

  it('rejects missing fields by name', () => {
    for (const field of Object.keys(prekey).filter((name) => name !== 'v')) {
      const input: Record<string, unknown> = { ...prekey };
      delete input[field];
      const error = parseError(input);
      expect(error.code).toBe('invalid_envelope');
      if (field !== 'type') {
        expect(error.message).toContain(field);
      }
    }
  });

  it('rejects extra fields by name', () => {
    const error = parseError({ ...message, sender: 'alice' });
    expect(error.code).toBe('invalid_envelope');
    expect(error.message).toContain('"sender"');
    expect(parseError({ ...message, identityKey: key }).message).toContain('identityKey');
  });

  it('rejects wrong key and ciphertext lengths', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['ratchetKey', { ...message, ratchetKey: toBase64Url(new Uint8Array(31)) }],
      ['ratchetKey', { ...message, ratchetKey: toBase64Url(new Uint8Array(33)) }],
      ['identityKey', { ...prekey, identityKey: toBase64Url(new Uint8Array(64)) }],
      ['baseKey', { ...prekey, baseKey: '' }],
      ['kemCiphertext', { ...prekey, kemCiphertext: toBase64Url(new Uint8Array(1567)) }],
      ['kemCiphertext', { ...prekey, kemCiphertext: toBase64Url(new Uint8Array(1088)) }],
      ['ciphertext', { ...message, ciphertext: toBase64Url(new Uint8Array(15)) }],
      ['ciphertext', { ...message, ciphertext: toBase64Url(new Uint8Array(46 * 1024 + 17)) }],
    ];
    for (const [field, input] of cases) {
      const error = parseError(input);
      expect(error.code).toBe('invalid_envelope');
      expect(error.message).toContain(field);
    }
  });

  it('rejects non-canonical base64url', () => {
    const last = key.at(-1)!;
    const variants = [
      `${key.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`, // unused trailing bits set
      `${key}=`, // padding
      key.replace(/.$/, '+'), // standard base64 alphabet
      key.replace(/^./, ' '),
    ];
    for (const ratchetKey of variants) {
      expect(parseError({ ...message, ratchetKey }).code).toBe('invalid_envelope');
    }
  });

  it('rejects an X25519 key with bit 255 set', () => {
    const bytes = new Uint8Array(32).fill(7);
    bytes[31] = 0x87;
    expect(parseError({ ...message, ratchetKey: toBase64Url(bytes) }).message).toContain('bit 255');
  });

  it('rejects out-of-range counters and key ids', () => {
    for (const counter of [-1, 1.5, 2 ** 32, '1', null]) {
      expect(parseError({ ...message, counter }).message).toContain('counter');
    }
    for (const signedPrekeyId of [0, -1, 2 ** 31, 1.5]) {
      expect(parseError({ ...prekey, signedPrekeyId }).message).toContain('signedPrekeyId');
    }
  });

  it('never echoes the input in messages', () => {
    const secretLooking = 'x'.repeat(40) + 'SECRET';
    const error = parseError({ ...message, ciphertext: secretLooking });
    expect(error.message).not.toContain('SECRET');
  });
});

describe('encodeEnvelope', () => {
  it('round-trips through parseEnvelope', () => {
    const envelopes: Envelope[] = [message, prekey];
    for (const envelope of envelopes) {
      expect(parseEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
    }
  });

  it('refuses to encode an invalid envelope', () => {
    expect(() => encodeEnvelope({ ...message, counter: -1 })).toThrow(ProtocolError);
  });
});

describe('base64url decoding', () => {
  it('accepts only canonical text', () => {
    expect(fromBase64UrlOrNull('')).toEqual(new Uint8Array());
    expect(fromBase64UrlOrNull('AA')).toEqual(new Uint8Array([0]));
    expect(fromBase64UrlOrNull('AB')).toBeNull();
    expect(fromBase64UrlOrNull('A')).toBeNull();
    expect(fromBase64UrlOrNull('_-8')).toEqual(new Uint8Array([0xff, 0xef]));
    expect(fromBase64UrlOrNull('AAAA')).toEqual(new Uint8Array(3));
  });

  it('round-trips every length up to 70 bytes', () => {
    for (let length = 0; length <= 70; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length) & 0xff);
      expect(fromBase64UrlOrNull(toBase64Url(bytes))).toEqual(bytes);
    }
  });
});

describe('envelope size', () => {
  it('fits the topic payload limit at the largest plaintext', async () => {
    const alice = await smallAccount();
    const bob = await smallAccount();
    const started = await initiateSession(alice, bundleOf(bob, 'bob'));
    const sent = await encryptMessage(started.record, new Uint8Array(limits.MAX_PLAINTEXT_BYTES));
    const envelope = { ...sent.envelope, previousCounter: 0xffffffff, counter: 0xffffffff, signedPrekeyId: 2147483647, kemPrekeyId: 2147483647, oneTimePrekeyId: 2147483647 };

    // PostgreSQL's jsonb text form puts a space after every ':' and ','.
    const jsonbText = JSON.stringify(envelope).replaceAll('":', '": ').replaceAll(',"', ', "');
    expect(new TextEncoder().encode(jsonbText).length).toBeLessThanOrEqual(65_536);
    await expect(encryptMessage(started.record, new Uint8Array(limits.MAX_PLAINTEXT_BYTES + 1))).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });
});
