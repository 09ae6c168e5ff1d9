import { describe, expect, it } from 'vitest';

import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  retryDelay,
  TransportError,
  validateRetryPolicy,
  withRetry,
} from '../../src/chat/retry.ts';

const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, rateLimitDelayMs: 700, maxRetryAfterMs: 5000 };

describe('parseRetryAfter', () => {
  it('reads seconds', () => {
    expect(parseRetryAfter('3')).toBe(3000);
  });

  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
  });

  it('treats a past date as no wait', () => {
    const now = Date.parse('2026-01-01T00:00:10Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(0);
  });

  it('caps long waits', () => {
    expect(parseRetryAfter('86400')).toBe(MAX_RETRY_AFTER_MS);
  });

  it('ignores missing and malformed values', () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-1')).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('doubles the ceiling per retry up to the maximum', () => {
    const top = () => 0.999999;
    expect(backoffDelay(1, policy, top)).toBe(99);
    expect(backoffDelay(2, policy, top)).toBe(199);
    expect(backoffDelay(4, policy, top)).toBe(799);
    expect(backoffDelay(10, policy, top)).toBe(999);
  });

  it('draws the whole range from zero', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(200);
  });
});

describe('retryDelay', () => {
  it('uses Retry-After for 429', () => {
    const error = new TransportError('limited', { status: 429, retryAfterMs: 4000 });
    expect(retryDelay(error, 1, policy, () => 0)).toBe(4000);
  });

  it('falls back to the rate-limit delay for 429 without Retry-After', () => {
    const error = new TransportError('limited', { status: 429 });
    expect(retryDelay(error, 1, policy, () => 0)).toBe(700);
  });

  it('uses backoff for 5xx', () => {
    const error = new TransportError('down', { status: 503, retryAfterMs: 9000 });
    expect(retryDelay(error, 2, policy, () => 0.5)).toBe(100);
  });
});

describe('TransportError.retryable', () => {
  it.each([
    [0, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [409, false],
  ])('status %i is retryable: %s', (status, expected) => {
    expect(new TransportError('x', { status }).retryable).toBe(expected);
  });
});

describe('withRetry', () => {
  it('repeats retryable failures and returns the first success', async () => {
    const delays: number[] = [];
    let calls = 0;

    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) {
          throw new TransportError('down', { status: 502 });
        }
        return 'ok';
      },
      { policy, random: () => 0.5, sleep: async (ms) => void delays.push(ms) },
    );

    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(delays).toEqual([50, 100]);
  });

  it('stops after maxAttempts and throws the last error', async () => {
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new TransportError(`down ${calls}`, { status: 0 });
      },
      { policy, sleep: async () => {} },
    );

    await expect(run).rejects.toThrow('down 4');
    expect(calls).toBe(4);
  });

  it('does not repeat client errors', async () => {
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new TransportError('bad', { status: 400 });
      },
      { policy, sleep: async () => {} },
    );

    await expect(run).rejects.toThrow('bad');
    expect(calls).toBe(1);
  });

  it('does not repeat other errors', async () => {
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new TypeError('bug');
      },
      { policy, sleep: async () => {} },
    );

    await expect(run).rejects.toThrow(TypeError);
    expect(calls).toBe(1);
  });

  it('waits Retry-After after a 429', async () => {
    const delays: number[] = [];
    let calls = 0;

    await withRetry(
      async () => {
        calls++;
        if (calls === 1) {
          throw new TransportError('limited', { status: 429, retryAfterMs: 2000 });
        }
      },
      { policy, sleep: async (ms) => void delays.push(ms) },
    );

    expect(delays).toEqual([2000]);
  });

  it('fails at once when Retry-After exceeds the maximum', async () => {
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new TransportError('limited', { status: 429, retryAfterMs: 60_000 });
      },
      { policy, sleep: async () => {} },
    );

    await expect(run).rejects.toMatchObject({ status: 429, retryAfterMs: 60_000 });
    expect(calls).toBe(1);
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const run = withRetry(
      async () => {
        throw new TransportError('down', { status: 503 });
      },
      { policy: { ...policy, baseDelayMs: 60_000, maxDelayMs: 60_000, maxRetryAfterMs: 120_000 }, random: () => 0.9, signal: controller.signal },
    );
    controller.abort(new Error('stopped'));

    await expect(run).rejects.toThrow('stopped');
  });
});

describe('validateRetryPolicy', () => {
  it('accepts the default', () => {
    expect(validateRetryPolicy({ ...DEFAULT_RETRY_POLICY })).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('rejects zero attempts', () => {
    expect(() => validateRetryPolicy({ ...policy, maxAttempts: 0 })).toThrow(/maxAttempts/);
  });

  it('rejects negative delays', () => {
    expect(() => validateRetryPolicy({ ...policy, baseDelayMs: -1 })).toThrow(/baseDelayMs/);
  });
});
