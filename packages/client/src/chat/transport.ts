/**
 * Transport of the chat layer over supabase-js: REST for topics and
 * profiles, Edge Functions for bundles, acknowledgements and key uploads,
 * and the private Realtime channel `inbox:<profile>` for notifications.
 *
 * Every call maps failures to {@link TransportError} and runs under the
 * retry policy, so callers see either a result or a classified error.
 */
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import { FunctionsFetchError, FunctionsHttpError, FunctionsRelayError } from '@supabase/supabase-js';
import { z } from 'zod';

import { errorFields, silentLogger, type ChatLogger } from './logger.ts';
import { parseRetryAfter, TransportError, withRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';

/** Maximum ids per `acknowledge-topics` call, as the database function accepts. */
export const MAX_ACKNOWLEDGE_BATCH = 1000;

/** Maximum topics per inbox page. */
export const MAX_INBOX_PAGE = 1000;

/** A pending topic as read from the caller's inbox. */
export interface InboxTopic {
  /** Topic id, increasing in insertion order. */
  id: number;
  /** Server time of the insert, ISO 8601. */
  createdAt: string;
  /** Sending profile. */
  fromProfile: string;
  /** Encrypted envelope, parsed by the protocol layer. */
  payload: unknown;
}

/** Notification broadcast on `inbox:<profile>` after a topic was inserted. */
export interface InboxNotification {
  id: number;
  fromProfile: string;
  createdAt: string;
}

/** The caller's remaining prekeys, as `prekey_counts()` returns them. */
export interface PrekeyCounts {
  oneTimePrekeys: number;
  kemPrekeys: number;
  signedPrekeyId: number | null;
  lastResortKemPrekeyId: number | null;
}

/** State of the inbox channel as reported by Realtime. */
export type InboxChannelStatus = 'subscribed' | 'error' | 'timed_out' | 'closed';

/** Callbacks of an inbox subscription. */
export interface InboxChannelHandlers {
  onNotification(notification: InboxNotification): void;
  onStatus(status: InboxChannelStatus, error?: Error): void;
}

/** A joined inbox channel. */
export interface InboxChannel {
  /** Leaves the channel and stops the callbacks. */
  close(): Promise<void>;
}

const prekeyCountsSchema = z.strictObject({
  oneTimePrekeys: z.number().int().nonnegative(),
  kemPrekeys: z.number().int().nonnegative(),
  signedPrekeyId: z.number().int().positive().nullable(),
  lastResortKemPrekeyId: z.number().int().positive().nullable(),
});

const topicRowSchema = z.object({
  id: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]),
  created_at: z.string(),
  from_profile: z.string(),
  payload: z.unknown(),
});

const notificationSchema = z.object({
  id: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]),
  from_profile: z.string(),
  created_at: z.string(),
});

const acknowledgedSchema = z.union([
  z.array(z.number().int()),
  z.object({ acknowledged: z.array(z.number().int()) }).transform((body) => body.acknowledged),
]);

/** Options of {@link SupabaseTransport}. */
export interface TransportOptions {
  retry?: RetryPolicy | undefined;
  logger?: ChatLogger | undefined;
  /** Aborts retry waits, for example when the chat stops. */
  signal?: AbortSignal | undefined;
}

/** Response shape shared by PostgREST calls in supabase-js. */
interface PostgrestResult<T> {
  data: T | null;
  error: { message: string; code?: string; details?: string | null; hint?: string | null } | null;
  status: number;
}

/**
 * Backend calls of the chat layer, each one retried by the policy.
 *
 * The client must be signed in: Row Level Security decides what each call
 * may read or write, so an unauthenticated call fails with status 401 or
 * reads nothing.
 */
export class SupabaseTransport {
  readonly #client: SupabaseClient;
  readonly #retry: RetryPolicy;
  readonly #logger: ChatLogger;
  readonly #signal: AbortSignal | undefined;

  constructor(client: SupabaseClient, options: TransportOptions = {}) {
    this.#client = client;
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#logger = options.logger ?? silentLogger;
    this.#signal = options.signal;
  }

  /** The supabase-js client this transport calls. */
  get client(): SupabaseClient {
    return this.#client;
  }

  /**
   * Returns the signed-in user's id from the current session, or `undefined`
   * when the client has no session.
   */
  async currentUserId(): Promise<string | undefined> {
    const { data, error } = await this.#client.auth.getSession();
    if (error !== null) {
      throw new TransportError(`reading the session failed: ${error.message}`, { status: error.status ?? 0, cause: error });
    }
    return data.session?.user.id;
  }

  /**
   * Claims `profile` for the signed-in user with its identity payload.
   *
   * Throws a `TransportError` with code `23505` when another user owns the
   * name, and with status 403 when the user already owns another profile
   * or the row is rejected by policy.
   */
  async claimProfile(profile: string, identity: unknown): Promise<void> {
    await this.#postgrest('claim profile', { profile }, () =>
      this.#client.from('chat_participants').insert([{ profile, payload: identity }]),
    );
  }

  /**
   * Returns the name of the profile `userId` owns, or `undefined` when the
   * user has not claimed one.
   */
  async fetchOwnProfile(userId: string): Promise<string | undefined> {
    const rows = await this.#postgrest('read own profile', {}, () =>
      this.#client.from('chat_participants').select('profile').eq('owner_id', userId).limit(1).retry(false),
    );
    return (rows as Array<{ profile: string }> | null)?.[0]?.profile;
  }

  /**
   * Reads the published identity payload of `profile`, or `null` when the
   * profile does not exist or has no identity.
   */
  async fetchIdentity(profile: string): Promise<unknown> {
    const rows = await this.#postgrest('read identity', { profile }, () =>
      this.#client.from('chat_participants').select('payload').eq('profile', profile).limit(1).retry(false),
    );
    const row = (rows as Array<{ payload: unknown }> | null)?.[0];
    return row?.payload ?? null;
  }

  /**
   * Inserts one encrypted topic from `fromProfile` to `toProfile`.
   *
   * A retried insert may store the topic twice when the first response was
   * lost; the recipient recognizes the copy as a duplicate and drops it.
   */
  async sendTopic(fromProfile: string, toProfile: string, payload: unknown): Promise<void> {
    await this.#postgrest('send topic', { fromProfile, toProfile }, () =>
      this.#client.from('chat_topics').insert([{ from_profile: fromProfile, to_profile: toProfile, payload }]),
    );
  }

  /**
   * Reads up to `limit` pending topics of the caller's inbox with an id
   * greater than `afterId`, in id order.
   */
  async fetchTopics(profile: string, afterId: number, limit: number): Promise<InboxTopic[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_INBOX_PAGE) {
      throw new RangeError(`page size must be an integer from 1 to ${MAX_INBOX_PAGE}, got ${String(limit)}`);
    }

    const rows = await this.#postgrest('fetch topics', { profile, afterId, limit }, () =>
      this.#client
        .from('chat_topics')
        .select('id, created_at, from_profile, payload')
        .eq('to_profile', profile)
        .gt('id', afterId)
        .order('id', { ascending: true })
        .limit(limit)
        .retry(false),
    );

    const parsed = z.array(topicRowSchema).safeParse(rows ?? []);
    if (!parsed.success) {
      throw new TransportError(`the inbox page has an unexpected shape: ${z.prettifyError(parsed.error)}`, { status: 200 });
    }
    return parsed.data.map((row) => ({
      id: row.id,
      createdAt: row.created_at,
      fromProfile: row.from_profile,
      payload: row.payload,
    }));
  }

  /** Returns the caller's remaining prekey counts. */
  async prekeyCounts(): Promise<PrekeyCounts> {
    const data = await this.#postgrest('read prekey counts', {}, () => this.#client.rpc('prekey_counts').retry(false));
    return parseCounts(data, 'prekey_counts()');
  }

  /**
   * Claims the prekey bundle of `profile` through the `prekey-bundle` Edge
   * Function. Status 404 means the profile is unknown or has no keys.
   */
  async fetchBundle(profile: string): Promise<unknown> {
    return this.#invoke('prekey-bundle', { profile }, { profile });
  }

  /**
   * Publishes keys through the `publish-keys` Edge Function and returns the
   * caller's prekey counts afterwards.
   */
  async publishKeys(body: Record<string, unknown>): Promise<PrekeyCounts> {
    const data = await this.#invoke('publish-keys', body, { fields: Object.keys(body) });
    const counts = (data as { counts?: unknown } | null)?.counts ?? data;
    return parseCounts(counts, 'publish-keys');
  }

  /**
   * Acknowledges up to {@link MAX_ACKNOWLEDGE_BATCH} topic ids through the
   * `acknowledge-topics` Edge Function and returns the ids it deleted.
   * Repeating a call is harmless.
   */
  async acknowledge(topicIds: readonly number[]): Promise<number[]> {
    if (topicIds.length === 0 || topicIds.length > MAX_ACKNOWLEDGE_BATCH) {
      throw new RangeError(`acknowledge takes 1 to ${MAX_ACKNOWLEDGE_BATCH} ids, got ${topicIds.length}`);
    }

    const data = await this.#invoke('acknowledge-topics', { topicIds }, { count: topicIds.length });
    const parsed = acknowledgedSchema.safeParse(data);
    if (!parsed.success) {
      throw new TransportError(`acknowledge-topics returned an unexpected body: ${z.prettifyError(parsed.error)}`, {
        status: 200,
      });
    }
    return parsed.data;
  }

  /**
   * Joins the private channel `inbox:<profile>` and forwards its `topic`
   * broadcasts. Realtime rejoins by itself after a dropped connection and
   * reports `subscribed` again each time it succeeds.
   */
  subscribeInbox(profile: string, handlers: InboxChannelHandlers): InboxChannel {
    const channel: RealtimeChannel = this.#client.channel(`inbox:${profile}`, { config: { private: true } });
    let open = true;

    channel.on('broadcast', { event: 'topic' }, (message: { payload?: unknown }) => {
      if (!open) {
        return;
      }
      const parsed = notificationSchema.safeParse(message.payload);
      if (!parsed.success) {
        this.#logger.warn({ profile }, 'ignored a malformed inbox notification');
        return;
      }
      handlers.onNotification({
        id: parsed.data.id,
        fromProfile: parsed.data.from_profile,
        createdAt: parsed.data.created_at,
      });
    });

    channel.subscribe((status, error) => {
      if (!open) {
        return;
      }
      switch (status) {
        case 'SUBSCRIBED':
          handlers.onStatus('subscribed');
          break;
        case 'CHANNEL_ERROR':
          handlers.onStatus('error', error);
          break;
        case 'TIMED_OUT':
          handlers.onStatus('timed_out');
          break;
        case 'CLOSED':
          handlers.onStatus('closed');
          break;
      }
    });

    return {
      close: async () => {
        open = false;
        await this.#client.removeChannel(channel);
      },
    };
  }

  /**
   * Keeps Realtime authorized after each token refresh by passing the new
   * access token to `realtime.setAuth`. Returns the function that stops it.
   *
   * supabase-js does the same for clients that use its own auth; this makes
   * the chat independent of that detail. Clients created with a custom
   * `accessToken` callback have no auth events and are left alone.
   */
  keepRealtimeAuthorized(): () => void {
    let subscription: { unsubscribe(): void } | undefined;
    try {
      const { data } = this.#client.auth.onAuthStateChange((event, session) => {
        if ((event === 'TOKEN_REFRESHED' || event === 'SIGNED_IN') && session !== null) {
          this.#client.realtime.setAuth(session.access_token).catch((error: unknown) => {
            this.#logger.warn(errorFields(error), 'passing the refreshed token to Realtime failed');
          });
        }
      });
      subscription = data.subscription;
    } catch (error) {
      this.#logger.debug(errorFields(error), 'the client has no auth events; Realtime uses its accessToken callback');
    }
    return () => subscription?.unsubscribe();
  }

  async #postgrest<T>(
    operation: string,
    fields: Record<string, unknown>,
    request: () => PromiseLike<PostgrestResult<T>>,
  ): Promise<T | null> {
    return withRetry(
      async () => {
        const result = await request();
        if (result.error !== null) {
          throw postgrestError(operation, result);
        }
        return result.data;
      },
      this.#retryOptions(operation, fields),
    );
  }

  async #invoke(name: string, body: unknown, fields: Record<string, unknown>): Promise<unknown> {
    return withRetry(
      async () => {
        const { data, error } = await this.#client.functions.invoke(name, { body: body as Record<string, unknown> });
        if (error !== null && error !== undefined) {
          throw await functionError(name, error);
        }
        return data;
      },
      this.#retryOptions(name, fields),
    );
  }

  #retryOptions(operation: string, fields: Record<string, unknown>) {
    return {
      policy: this.#retry,
      signal: this.#signal,
      onRetry: (error: TransportError, attempt: number, delayMs: number) => {
        this.#logger.warn(
          { ...fields, operation, attempt, delayMs, status: error.status, code: error.code },
          'backend call failed, retrying',
        );
      },
    };
  }
}

function parseCounts(data: unknown, source: string): PrekeyCounts {
  const parsed = prekeyCountsSchema.safeParse(data);
  if (!parsed.success) {
    throw new TransportError(`${source} returned unexpected prekey counts: ${z.prettifyError(parsed.error)}`, {
      status: 200,
    });
  }
  return parsed.data;
}

/** Maps a PostgREST error response to a classified {@link TransportError}. */
export function postgrestError(operation: string, result: PostgrestResult<unknown>): TransportError {
  const error = result.error ?? { message: 'unknown error' };
  const code = error.code === undefined || error.code === '' ? undefined : error.code;

  // PostgREST turns SQLSTATE PTxyz into HTTP status xyz; the claim and send
  // rate limits raise PT429.
  const status = code === 'PT429' ? 429 : result.status;
  const reason = status === 0 ? 'the backend could not be reached' : error.message;
  return new TransportError(`${operation} failed: ${reason}`, { status, code });
}

/** Maps a supabase-js Edge Function error to a classified {@link TransportError}. */
export async function functionError(name: string, error: unknown): Promise<TransportError> {
  if (error instanceof FunctionsFetchError) {
    return new TransportError(`${name} failed: the backend could not be reached`, { status: 0, cause: error });
  }

  if (error instanceof FunctionsHttpError || error instanceof FunctionsRelayError) {
    const response = error.context as Response | undefined;
    const status = response?.status ?? 0;
    const retryAfterMs = parseRetryAfter(response?.headers.get('Retry-After'));
    let code: string | undefined;
    let message = `HTTP ${status}`;
    try {
      const body = (await response?.json()) as { error?: { code?: unknown; message?: unknown } } | undefined;
      if (typeof body?.error?.code === 'string') {
        code = body.error.code;
      }
      if (typeof body?.error?.message === 'string') {
        message = body.error.message;
      }
    } catch {
      // The body was not JSON; the status alone classifies the failure.
    }
    return new TransportError(`${name} failed: ${message}`, { status, code, retryAfterMs });
  }

  const message = error instanceof Error ? error.message : String(error);
  return new TransportError(`${name} failed: ${message}`, { status: 0, cause: error });
}
