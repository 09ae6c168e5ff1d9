import { describe, expect, it } from 'vitest';

import { ContentError, decodeContent, encodeContent, isTextContentType, validateContentType } from '../../src/chat/content.ts';

const sample = {
  id: '0b9f3c1e-8f1a-4d7e-9a51-2f0c6f5a7b10',
  sentAt: '2026-12-04T20:00:00.000Z',
  contentType: 'application/octet-stream',
  body: new Uint8Array([0, 1, 2, 250, 255]),
};

const encoder = new TextEncoder();

function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

describe('message content', () => {
  it('round-trips binary bodies', () => {
    const decoded = decodeContent(encodeContent(sample));
    expect(decoded).toEqual(sample);
  });

  it('round-trips an empty body', () => {
    const decoded = decodeContent(encodeContent({ ...sample, body: new Uint8Array() }));
    expect(decoded.body).toEqual(new Uint8Array());
  });

  it('rejects bytes that are not UTF-8 JSON', () => {
    expect(() => decodeContent(new Uint8Array([0xff, 0xfe]))).toThrow(ContentError);
    expect(() => decodeContent(encoder.encode('{'))).toThrow(/not UTF-8 JSON/);
  });

  it('rejects an unknown version', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeContent(sample)));
    expect(() => decodeContent(encodeJson({ ...json, v: 2 }))).toThrow(/v:/);
  });

  it('rejects extra fields', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeContent(sample)));
    expect(() => decodeContent(encodeJson({ ...json, extra: 1 }))).toThrow(ContentError);
  });

  it.each(['id', 'sentAt', 'contentType', 'body'])('rejects a missing %s', (field) => {
    const json = JSON.parse(new TextDecoder().decode(encodeContent(sample)));
    delete json[field];
    expect(() => decodeContent(encodeJson(json))).toThrow(new RegExp(field));
  });

  it('rejects a malformed id', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeContent(sample)));
    expect(() => decodeContent(encodeJson({ ...json, id: 'not-a-uuid' }))).toThrow(/id: must be a lowercase UUID/);
  });

  it('rejects a body that is not base64url', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeContent(sample)));
    expect(() => decodeContent(encodeJson({ ...json, body: 'a+b=' }))).toThrow(/body/);
  });
});

describe('content types', () => {
  it('accepts MIME types with parameters', () => {
    expect(validateContentType('text/plain;charset=utf-8')).toBe('text/plain;charset=utf-8');
    expect(validateContentType('image/png')).toBe('image/png');
  });

  it.each(['', 'text', 'text/', '/plain', 'a b/c', 'x'.repeat(300) + '/y'])('rejects %j', (value) => {
    expect(() => validateContentType(value)).toThrow(/invalid content type/);
  });

  it('tells text from binary', () => {
    expect(isTextContentType('text/markdown')).toBe(true);
    expect(isTextContentType('TEXT/plain')).toBe(true);
    expect(isTextContentType('application/json')).toBe(false);
  });
});
