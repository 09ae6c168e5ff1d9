/**
 * Retry policy for calls to the backend: exponential backoff with full
 * jitter on network errors and 5xx responses, and the server's `Retry-After`
 * on 429 responses.
 */

/** How often and how long a failed backend call is retried. */
export interface RetryPolicy {
  /** Attempts in total, the first one included. At least 1. */
  maxAttempts: number;
  /** Upper bound of the first retry's delay in milliseconds. */
  baseDelayMs: number;
  /** Upper bound of any computed delay in milliseconds. */
  maxDelayMs: number;
  /** Delay in milliseconds after a 429 response without a `Retry-After` header. */
  rateLimitDelayMs: number;
  /**
   * Longest `Retry-After` in milliseconds that is waited out. A 429 that
   * requests more fails at once, with the requested delay in its
   * `retryAfterMs`, so an interactive caller is not blocked for minutes.
   */
  maxRetryAfterMs: number;
}

/** Default retry policy: 6 attempts, delays drawn from 0-250 ms doubling up to 0-8 s. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 6,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  rateLimitDelayMs: 1_000,
  maxRetryAfterMs: 30_000,
});

/** Upper bound for a server's `Retry-After`, so a wrong header cannot stall a client for hours. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Failure of a backend call, classified for the retry policy.
 *
 * `status` is the HTTP status, or 0 when no response arrived (a network
 * error). `code` is the server's stable error code when it sent one.
 */
export class TransportError extends Error {
  /** HTTP status of the response, 0 for a network error. */
  readonly status: number;
  /** Stable error code from the response body (PostgREST SQLSTATE or Edge Function code), or `undefined`. */
  readonly code: string | undefined;
  /** Delay the server asked for with `Retry-After`, in milliseconds, or `undefined`. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { status: number; code?: string | undefined; retryAfterMs?: number | undefined; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransportError';
    this.status = options.status;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Whether repeating the same call may succeed: network errors, 429 and 5xx. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/**
 * Parses an HTTP `Retry-After` value (delay in seconds or an HTTP date) into
 * milliseconds, capped at {@link MAX_RETRY_AFTER_MS}.
 *
 * Returns `undefined` for a missing or malformed value.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) {
    return undefined;
  }

  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Math.min(Number(trimmed) * 1000, MAX_RETRY_AFTER_MS);
  }

  // An HTTP date always names the weekday and month; Date.parse alone would
  // also accept bare numbers such as "-1" as years.
  const date = /[a-z]{3}/i.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(date)) {
    return undefined;
  }
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
}

/**
 * Computes the delay before retry number `retry` (1 for the first retry):
 * a uniformly random value between 0 and `min(maxDelayMs, baseDelayMs * 2^(retry-1))`
 * ("full jitter"), so many clients failing together do not retry together.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

/** Computes the delay before the next attempt after `error`, following the policy. */
export function retryDelay(
  error: TransportError,
  retry: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  if (error.status === 429) {
    return error.retryAfterMs ?? policy.rateLimitDelayMs;
  }
  return backoffDelay(retry, policy, random);
}

/** Checks a retry policy and throws a `RangeError` naming the bad field. */
export function validateRetryPolicy(policy: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`retry.maxAttempts must be an integer of at least 1, got ${String(policy.maxAttempts)}`);
  }
  for (const field of ['baseDelayMs', 'maxDelayMs', 'rateLimitDelayMs', 'maxRetryAfterMs'] as const) {
    const value = policy[field];
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`retry.${field} must be a non-negative number of milliseconds, got ${String(value)}`);
    }
  }
  return policy;
}

/** Options of {@link withRetry}. */
export interface RetryOptions {
  policy: RetryPolicy;
  /** Aborts the waits between attempts; the call then throws the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Called before each wait, for logging. */
  onRetry?: ((error: TransportError, attempt: number, delayMs: number) => void) | undefined;
  /** Source of randomness for the jitter, `Math.random` by default. */
  random?: (() => number) | undefined;
  /** Sleeps for the given milliseconds; replaceable so tests need no real time. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/**
 * Runs `operation` and repeats it while it throws a retryable
 * {@link TransportError}, up to `policy.maxAttempts` attempts in total.
 *
 * Any other error, a non-retryable `TransportError`, or the last attempt's
 * error is thrown as is.
 */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? abortableSleep;

  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!(error instanceof TransportError) || !error.retryable || attempt >= options.policy.maxAttempts) {
        throw error;
      }

      const delayMs = retryDelay(error, attempt, options.policy, options.random);
      if (error.status === 429 && delayMs > options.policy.maxRetryAfterMs) {
        throw error;
      }
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}

/** Resolves after `ms` milliseconds, or rejects with the signal's reason once it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }

    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
