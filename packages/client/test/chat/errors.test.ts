import { FunctionsFetchError, FunctionsHttpError } from '@supabase/supabase-js';
import { describe, expect, it } from 'vitest';

import { ChatError } from '../../src/chat/errors.ts';
import { claimConflict, toChatError } from '../../src/chat/errors-map.ts';
import { TransportError } from '../../src/chat/retry.ts';
import { functionError, postgrestError } from '../../src/chat/transport.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';

describe('functionError', () => {
  it('reads status, code and Retry-After of an HTTP error', async () => {
    const response = new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'too many bundle claims' } }), {
      status: 429,
      headers: { 'Retry-After': '60', 'Content-Type': 'application/json' },
    });
    const error = await functionError('prekey-bundle', new FunctionsHttpError(response));

    expect(error.status).toBe(429);
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(60_000);
    expect(error.message).toBe('prekey-bundle failed: too many bundle claims');
  });

  it('keeps the status of a body that is not JSON', async () => {
    const error = await functionError('publish-keys', new FunctionsHttpError(new Response('bad gateway', { status: 502 })));
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(true);
  });

  it('classifies a fetch failure as a network error', async () => {
    const error = await functionError('acknowledge-topics', new FunctionsFetchError(new TypeError('fetch failed')));
    expect(error.status).toBe(0);
    expect(error.retryable).toBe(true);
  });
});

describe('postgrestError', () => {
  it('maps PT429 to status 429', () => {
    const error = postgrestError('send topic', { data: null, status: 400, error: { message: 'limited', code: 'PT429' } });
    expect(error.status).toBe(429);
  });

  it('names an unreachable backend', () => {
    const error = postgrestError('fetch topics', { data: null, status: 0, error: { message: 'TypeError: fetch failed', code: '' } });
    expect(error.message).toBe('fetch topics failed: the backend could not be reached');
    expect(error.code).toBeUndefined();
  });
});

describe('toChatError', () => {
  it.each([
    [new TransportError('x', { status: 0 }), 'unavailable'],
    [new TransportError('x', { status: 503 }), 'unavailable'],
    [new TransportError('x', { status: 401 }), 'not_signed_in'],
    [new TransportError('x', { status: 429, retryAfterMs: 60_000 }), 'rate_limited'],
    [new TransportError('x', { status: 404, code: 'profile_not_found' }), 'unknown_profile'],
    [new TransportError('x', { status: 409, code: '23503' }), 'unknown_profile'],
    [new TransportError('x', { status: 400, code: '22023' }), 'rejected'],
    [new ProtocolError('untrusted_identity', 'changed'), 'identity_changed'],
  ])('maps %o to %s', (error, code) => {
    expect(toChatError(error, 'sending', 'bob').code).toBe(code);
  });

  it('keeps the requested delay of a rate limit', () => {
    const error = toChatError(new TransportError('x', { status: 429, retryAfterMs: 60_000 }), 'sending', 'bob');
    expect(error.retryAfterMs).toBe(60_000);
    expect(error.message).toMatch(/retry in 60 s/);
  });

  it('passes chat errors through', () => {
    const original = new ChatError('not_registered', 'register first');
    expect(toChatError(original, 'sending')).toBe(original);
  });

  it('rethrows other errors', () => {
    expect(() => toChatError(new TypeError('bug'), 'sending')).toThrow(TypeError);
  });
});

describe('claimConflict', () => {
  const unique = (constraint: string) =>
    new TransportError(`claim profile failed: duplicate key value violates unique constraint "${constraint}"`, { status: 409, code: '23505' });

  it('names the violated claim constraint', () => {
    expect(claimConflict(unique('chat_participants_profile_key'))).toBe('profile');
    expect(claimConflict(unique('chat_participants_owner_id_key'))).toBe('owner');
  });

  it('reports another unique constraint as unknown', () => {
    expect(claimConflict(unique('chat_participants_pkey'))).toBe('unknown');
    expect(claimConflict(new TransportError('claim profile failed: conflict', { status: 409, code: '23505' }))).toBe('unknown');
  });

  it('ignores errors that are no unique violation', () => {
    expect(claimConflict(new TransportError('claim profile failed: denied', { status: 403, code: '42501' }))).toBeUndefined();
    expect(claimConflict(new Error('duplicate key value violates unique constraint "chat_participants_owner_id_key"'))).toBeUndefined();
  });
});
