/**
 * The chat API: register a profile, send end-to-end encrypted messages to
 * other profiles, and receive them through events or an async iterator.
 *
 * Created from the app's own signed-in `SupabaseClient` and a `Store`. The
 * server only receives public keys and encrypted envelopes. Every secret
 * stays in the store.
 */
import type { SupabaseClient } from '@supabase/supabase-js';

import { createAccount, exportPrekeys, publicIdentity, type AccountState } from '../protocol/account.ts';
import { fromBase64UrlOrNull, toBase64Url } from '../protocol/encoding.ts';
import type { Envelope } from '../protocol/envelope.ts';
import { formatSafetyNumber, safetyNumber, type IdentityPolicy } from '../protocol/identity.ts';
import { encryptMessage, initiateSession, type SessionRecord } from '../protocol/session.ts';
import { sessionKey, type JsonValue, type Store } from '../store/store.ts';
import { encodeContent, isTextContentType, TEXT_CONTENT_TYPE, validateContentType } from './content.ts';
import { ChatError } from './errors.ts';
import { claimConflict, isPolicyViolation, toChatError } from './errors-map.ts';
import { AsyncQueue, TypedEmitter } from './events.ts';
import { InboxReceiver } from './inbox.ts';
import { maintainKeys, type KeyMaintenanceOptions } from './keys.ts';
import { errorFields, silentLogger, type ChatLogger } from './logger.ts';
import { processTopic, type TopicOutcome } from './receive.ts';
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, type RetryPolicy } from './retry.ts';
import { Batcher } from './scheduling.ts';
import { ownSafetyCode, type OwnSafetyCode } from './fingerprint.ts';
import { ChatState, messagesKey, type ProfileRecord, type StoredMessage } from './storage.ts';
import { MAX_ACKNOWLEDGE_BATCH, MAX_INBOX_PAGE, SupabaseTransport, type InboxChannelStatus } from './transport.ts';

/**
 * Largest message body in bytes. The database caps a topic payload at 64 KiB
 * by default (`topic_payload_max_bytes`). A 32 KiB body grows to about 61 KB
 * as a prekey topic, because it is base64url-encoded twice and the PQXDH
 * data comes on top.
 */
export const MAX_MESSAGE_BYTES = 32 * 1024;

/** Profile names as the database accepts them: 3 to 64 of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit. */
export const PROFILE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;

/** Options of {@link Chat}. Every field has a default. */
export interface ChatOptions {
  /**
   * Policy for a contact's changed identity key. `accept-and-warn` (default)
   * emits `identityChanged` and continues. `reject` emits it too, then
   * reports the contact's messages as errors and fails sends to the contact
   * until `trustIdentity` is called.
   */
  identityPolicy?: IdentityPolicy;
  /** Replenish one-time EC or KEM prekeys when the server stores fewer than this. Default 20. */
  prekeyThreshold?: number;
  /** Milliseconds between prekey checks (rotation and replenishment). Default 10 minutes. */
  maintenanceIntervalMs?: number;
  /** Age in milliseconds after which the signed prekey is rotated. Default 7 days. */
  signedPrekeyRotationMs?: number;
  /** Topics per inbox page, 1 to 1,000. Default 100. */
  pageSize?: number;
  /** Topic ids per acknowledgement call, 1 to 1,000. Default 100. */
  acknowledgeBatchSize?: number;
  /** Milliseconds a processed topic may wait for its acknowledgement batch. Default 250. */
  acknowledgeDelayMs?: number;
  /** Milliseconds between inbox fetches without a notification, as a safety net. Default 30 s. */
  pollIntervalMs?: number;
  /** Milliseconds `start` waits for the inbox channel to be joined. Default 15 s. */
  subscribeTimeoutMs?: number;
  /** Messages kept per contact in the store; older ones are dropped. Default 1,000. */
  historyLimit?: number;
  /** Retries of backend calls. */
  retry?: RetryPolicy;
  /** Structured logger (pino fits). Default: no logging. */
  logger?: ChatLogger;
}

/** A message received from a contact. */
export interface ReceivedMessage {
  /** Message id chosen by the sender. */
  id: string;
  /** Sending profile. */
  from: string;
  /** Topic id it arrived in. */
  topicId: number;
  /** Sender's clock when sent, ISO 8601 (informational: the sender controls it). */
  sentAt: string;
  /** Local time it was committed to the store, ISO 8601. */
  receivedAt: string;
  /** MIME type of `body`. */
  contentType: string;
  /** Message bytes. */
  body: Uint8Array;
  /** `body` decoded as UTF-8 when `contentType` is `text/*`, else undefined. */
  text: string | undefined;
}

/** Options of {@link Chat.register}. */
export interface RegisterOptions {
  /** Give a profile this user already owns a new identity key and new prekeys. */
  replaceIdentity?: boolean;
}

/** A message handed to the backend by {@link Chat.send}. */
export interface SentMessage {
  /**
   * Message id (a UUID): the id of the entry in {@link Chat.history}, the id
   * the recipient receives, and the `messageId` of a {@link ChatError} when the
   * send failed after the message was stored.
   */
  id: string;
  /** Recipient profile. */
  to: string;
  /** Sender's clock when sent, ISO 8601. */
  sentAt: string;
  /** MIME type of the body. */
  contentType: string;
}

/** A profile this store has a session or message history with, from {@link Chat.contacts}. */
export interface Contact {
  profile: string;
  /** Local time of the newest message in either direction, ISO 8601, or undefined without history. */
  lastActivity: string | undefined;
  /** Whether the store contains a session with the contact, so the next message needs no prekey bundle. */
  hasSession: boolean;
}

/** Options of {@link Chat.send}. */
export interface SendOptions {
  /** MIME type of the body. Default: `text/plain;charset=utf-8` for a string, `application/octet-stream` for bytes. */
  contentType?: string;
}

/** A topic that could not be decrypted or parsed; it was acknowledged after this report. */
export interface TopicError {
  kind: 'topic';
  topicId: number;
  from: string;
  /** Protocol error code, such as `decryption_failed` or `no_session`, or `invalid_content`. */
  code: string;
  error: Error;
}

/** A background failure: a fetch pass, an acknowledgement batch or key maintenance. */
export interface BackgroundError {
  kind: 'fetch' | 'acknowledge' | 'maintenance' | 'listener';
  error: Error;
}

/** Payload of the `error` event. */
export type ChatErrorEvent = TopicError | BackgroundError;

/** A contact's identity key differs from the trusted one. */
export interface IdentityChange {
  profile: string;
  /** Identity key trusted until now. */
  previousIdentityKey: string;
  /** Identity key the contact presented. */
  identityKey: string;
  /** True under `accept-and-warn`: the new key is trusted from now on. False under `reject`. */
  accepted: boolean;
  /** Safety number with the new identity key, 12 groups of 5 digits. */
  safetyNumber: string;
}

/** Payload of the `connection` event: the state of the inbox channel. */
export interface ConnectionState {
  status: InboxChannelStatus;
}

/** Events of {@link Chat}. */
export interface ChatEvents {
  /** A new message, after it was committed to the store. */
  message: ReceivedMessage;
  /** A topic that could not be processed, or a background failure. */
  error: ChatErrorEvent;
  /** A contact's identity key changed; emitted before any message from the new identity. */
  identityChanged: IdentityChange;
  /** The inbox channel joined, failed or closed. */
  connection: ConnectionState;
}

/** A contact's safety number. */
export interface SafetyNumber {
  /** 60 digits. */
  digits: string;
  /** 12 groups of 5 digits, as people compare them. */
  formatted: string;
  /** The contact's identity key the number was computed from. */
  identityKey: string;
  /** `trusted`: the key on record in the store; `published`: the key on the server, not yet trusted. */
  source: 'trusted' | 'published';
}

interface ResolvedOptions {
  identityPolicy: IdentityPolicy;
  pageSize: number;
  acknowledgeBatchSize: number;
  acknowledgeDelayMs: number;
  pollIntervalMs: number;
  subscribeTimeoutMs: number;
  maintenanceIntervalMs: number;
  historyLimit: number;
  keys: KeyMaintenanceOptions;
}

/**
 * End-to-end encrypted chat for one profile over a Supabase backend.
 *
 * One `Chat` per store: two instances over the same store would overwrite
 * each other's session states.
 */
export class Chat {
  readonly #transport: SupabaseTransport;
  readonly #store: Store;
  readonly #options: ResolvedOptions;
  readonly #logger: ChatLogger;
  readonly #emitter: TypedEmitter<ChatEvents>;
  readonly #iterators = new Set<AsyncQueue<ReceivedMessage>>();
  readonly #abort = new AbortController();
  /** Topic ids processed in this run, so a topic read twice costs no store transaction. */
  readonly #processed = new Set<number>();
  #sendQueue: Promise<unknown> = Promise.resolve();
  #profile: ProfileRecord | undefined;
  #receiver: InboxReceiver | undefined;
  #acknowledgements: Batcher<number> | undefined;
  #maintenanceTimer: ReturnType<typeof setInterval> | undefined;
  #maintenance: Promise<void> | undefined;
  #stopAuthRefresh: (() => void) | undefined;
  #state: 'idle' | 'starting' | 'running' | 'stopping' = 'idle';

  /**
   * @param client - The app's supabase-js client, signed in. On Node 20,
   *   create it with `realtime: { transport: WebSocket }` from the `ws` package.
   * @param store - Where the identity, prekeys, sessions and messages are kept.
   * @param options - Tuning; see {@link ChatOptions}.
   */
  constructor(client: SupabaseClient, store: Store, options: ChatOptions = {}) {
    this.#options = resolveOptions(options);
    this.#logger = options.logger ?? silentLogger;
    this.#store = store;
    this.#transport = new SupabaseTransport(client, {
      retry: validateRetryPolicy(options.retry ?? { ...DEFAULT_RETRY_POLICY }),
      logger: this.#logger,
      signal: this.#abort.signal,
    });
    this.#emitter = new TypedEmitter<ChatEvents>((error, event) => {
      this.#logger.error({ event, ...errorFields(error) }, 'a chat event listener threw');
      if (event !== 'error') {
        this.#emitter.emit('error', { kind: 'listener', error: asError(error) });
      }
    });
  }

  /** The registered profile name, or undefined before {@link register} or {@link load}. */
  get profile(): string | undefined {
    return this.#profile?.state === 'registered' ? this.#profile.profile : undefined;
  }

  /** REST pages of the inbox fetched since `start()`, for metrics: a burst of notifications should cost few. */
  get inboxFetches(): number {
    return this.#receiver?.fetches ?? 0;
  }

  /** Whether the receive loop runs. */
  get running(): boolean {
    return this.#state === 'running';
  }

  /**
   * Reads the registered profile from the store and returns its name, or
   * undefined when the store contains none.
   */
  async load(): Promise<string | undefined> {
    this.#profile = await this.#store.transaction((tx) => new ChatState(tx).profile());
    return this.profile;
  }

  /**
   * Registers `profile` for the signed-in user: generates the identity and
   * prekeys, claims the name in `chat_participants` and publishes the
   * prekeys through `publish-keys`. Calling it again with the same name
   * finishes an interrupted registration and otherwise does nothing.
   *
   * With `replaceIdentity`, a profile the user already owns gets a new
   * identity key and new prekeys (for example after the store was lost, or
   * to reset a device's identity), and the sessions in this store are
   * dropped. Contacts then see an identity change. The chat must be stopped.
   * The new account is committed to the store before it is published; if
   * publishing fails, {@link profile} is undefined until a repeated call with
   * `replaceIdentity` succeeds.
   *
   * @throws ChatError `invalid_argument` (also for `replaceIdentity` while
   *   the chat runs), `not_signed_in`, `profile_taken` (another user owns the
   *   name), `already_registered` (this store belongs to another profile, or
   *   this user already owns another profile, which the message names),
   *   `rejected`, `unavailable`.
   */
  async register(profile: string, options: RegisterOptions = {}): Promise<void> {
    checkProfileName(profile, 'profile');
    if (options.replaceIdentity === true && this.#state !== 'idle') {
      throw new ChatError('invalid_argument', `register(${JSON.stringify(profile)}, { replaceIdentity: true }) called while the chat is ${this.#state}; call stop() first`);
    }
    const userId = await this.#requireUserId('register');

    const existing = await this.#store.transaction((tx) => new ChatState(tx).profile());
    if (existing !== undefined && existing.profile !== profile) {
      throw new ChatError(
        'already_registered',
        `this store already belongs to profile ${JSON.stringify(existing.profile)}; open another store to register ${JSON.stringify(profile)}`,
      );
    }
    if (existing !== undefined && existing.userId !== userId) {
      throw new ChatError(
        'already_registered',
        `this store belongs to profile ${JSON.stringify(existing.profile)} of another user; sign in as that user or open another store`,
      );
    }
    if (existing?.state === 'registered' && options.replaceIdentity !== true) {
      this.#profile = existing;
      return;
    }

    let owned: string | undefined;
    try {
      owned = await this.#transport.fetchOwnProfile(userId);
    } catch (error) {
      throw toChatError(error, 'registering', profile);
    }
    if (owned !== undefined && owned !== profile) {
      throw new ChatError(
        'already_registered',
        `registering ${JSON.stringify(profile)} failed: this user already owns the profile ${JSON.stringify(owned)}, and each user may own only one; register ${JSON.stringify(owned)} (with replaceIdentity if this store lacks its keys), or sign in as another user`,
      );
    }

    if (options.replaceIdentity === true && owned === profile) {
      await this.#replaceIdentity(profile, userId);
      return;
    }
    if (owned === profile && existing?.state === 'claimed') {
      await this.#checkOwnClaim(profile);
    }
    if (owned === profile && existing === undefined) {
      throw new ChatError(
        'already_registered',
        `this user owns ${JSON.stringify(profile)} but this store contains none of its keys; register with replaceIdentity to give it a new identity key`,
      );
    }

    const account = existing === undefined || options.replaceIdentity === true ? await this.#createClaim(profile, userId) : await this.#loadAccount();
    await this.#claim(profile, account, userId);

    try {
      await this.#transport.publishKeys({ action: 'publish', ...exportPrekeys(account) });
    } catch (error) {
      throw toChatError(error, 'publishing prekeys', profile);
    }

    const registered: ProfileRecord = { profile, state: 'registered', userId };
    await this.#store.transaction((tx) => new ChatState(tx).setProfile(registered));
    this.#profile = registered;
    this.#logger.info({ profile }, 'profile registered');
  }

  /**
   * Encrypts and sends a message to `to`. A string is sent as UTF-8 text;
   * bytes need a content type (default `application/octet-stream`). Sends are
   * queued, so messages leave in call order.
   *
   * The first message to a contact claims their prekey bundle and starts a
   * session (a prekey topic); later ones are ratchet topics.
   *
   * The message is committed to the store (history and outbox) before its
   * topic is inserted. When the insert then fails, the thrown ChatError
   * carries the message id in `messageId`: the message stays in
   * {@link history} and is not sent again, so send the content again to
   * retry. An error without `messageId` means nothing was stored.
   *
   * @throws ChatError `invalid_argument` (also for a body over
   *   {@link MAX_MESSAGE_BYTES}), `not_registered`, `unknown_profile`,
   *   `identity_changed` (policy `reject`), `rate_limited`, `unavailable`,
   *   `not_signed_in`, `rejected`.
   */
  async send(to: string, content: string | Uint8Array, options: SendOptions = {}): Promise<SentMessage> {
    checkProfileName(to, 'recipient');
    const contentType = validateContentType(
      options.contentType ?? (typeof content === 'string' ? TEXT_CONTENT_TYPE : 'application/octet-stream'),
    );
    if (typeof content !== 'string' && !(content instanceof Uint8Array)) {
      throw new ChatError('invalid_argument', 'message content must be a string or a Uint8Array');
    }
    const body = typeof content === 'string' ? new TextEncoder().encode(content) : content.slice();
    if (body.length > MAX_MESSAGE_BYTES) {
      throw new ChatError(
        'invalid_argument',
        `message of ${body.length} bytes is too large: the limit is ${MAX_MESSAGE_BYTES} bytes; split it or send a link to the data`,
      );
    }

    // Queued before the first await, so concurrent calls keep their call order.
    const result = this.#sendQueue.then(() => this.#send(to, body, contentType));
    this.#sendQueue = result.catch(() => undefined);
    return result;
  }

  /**
   * Starts receiving: joins the inbox channel, then fetches pending topics,
   * acknowledges what earlier runs committed but did not acknowledge, sends
   * what an earlier run committed but did not send, and checks the prekeys.
   *
   * @throws ChatError `not_registered`, `not_signed_in`, `unavailable` when
   *   the channel cannot be joined.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new ChatError('invalid_argument', `start() called while the chat is ${this.#state}; call stop() first`);
    }
    const registered = await this.#requireRegistered('start');
    await this.#requireUserId('start');
    this.#state = 'starting';

    const profile = registered.profile;
    this.#acknowledgements = new Batcher<number>({
      maxBatch: this.#options.acknowledgeBatchSize,
      maxDelayMs: this.#options.acknowledgeDelayMs,
      retryDelayMs: 5_000,
      flush: (ids) => this.#acknowledge(ids),
      onError: (error, ids) => {
        this.#logger.warn({ profile, count: ids.length, ...errorFields(error) }, 'acknowledging topics failed, will retry');
        this.#emitter.emit('error', { kind: 'acknowledge', error: asError(error) });
      },
    });

    const inbox = await this.#store.transaction((tx) => new ChatState(tx).inbox());
    this.#acknowledgements.add(...inbox.pendingAcknowledgements);
    this.#stopAuthRefresh = this.#transport.keepRealtimeAuthorized();

    this.#receiver = new InboxReceiver({
      transport: this.#transport,
      profile,
      pageSize: this.#options.pageSize,
      pollIntervalMs: this.#options.pollIntervalMs,
      subscribeTimeoutMs: this.#options.subscribeTimeoutMs,
      logger: this.#logger,
      processTopic: (topic) => this.#receive(topic),
      onChannelStatus: (status, error) => {
        const fields = { profile, status, ...(error === undefined ? {} : errorFields(error)) };
        if (status === 'subscribed') {
          this.#logger.info(fields, 'inbox channel joined');
        } else {
          this.#logger.warn(fields, 'inbox channel is not joined; Realtime rejoins by itself');
        }
        this.#emitter.emit('connection', { status });
      },
      onFetchError: (error) => {
        this.#logger.warn({ profile, ...errorFields(error) }, 'fetching the inbox failed; the next notification or poll retries');
        this.#emitter.emit('error', { kind: 'fetch', error: asError(error) });
      },
    });

    try {
      await this.#receiver.start();
    } catch (error) {
      await this.#teardown();
      throw new ChatError(
        'unavailable',
        `joining the inbox channel of ${JSON.stringify(profile)} failed: ${asError(error).message}; check that the backend is running and the user owns the profile`,
        { cause: error },
      );
    }

    this.#state = 'running';
    this.#logger.info({ profile }, 'chat started');

    await this.#resendOutbox();
    this.#runMaintenance();
    this.#maintenanceTimer = setInterval(() => this.#runMaintenance(), this.#options.maintenanceIntervalMs);
  }

  /**
   * Stops receiving: leaves the channel, finishes the running fetch,
   * acknowledges what was committed and ends every async iterator.
   */
  async stop(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopping') {
      return;
    }
    this.#state = 'stopping';
    await this.#teardown();
    this.#logger.info({ profile: this.profile }, 'chat stopped');
  }

  /**
   * Adds an event listener and returns the function that removes it.
   * Listeners run synchronously; one that throws does not stop the others.
   */
  on<K extends keyof ChatEvents>(event: K, listener: (value: ChatEvents[K]) => void): () => void {
    return this.#emitter.on(event, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<K extends keyof ChatEvents>(event: K, listener: (value: ChatEvents[K]) => void): void {
    this.#emitter.off(event, listener);
  }

  /**
   * Returns an async iterator over messages received from now on. It ends
   * when the chat stops or the loop that reads it breaks.
   */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    const queue = new AsyncQueue<ReceivedMessage>();
    this.#iterators.add(queue);
    const originalReturn = queue.return.bind(queue);
    queue.return = () => {
      this.#iterators.delete(queue);
      return originalReturn();
    };
    return queue;
  }

  /**
   * Returns the latest messages exchanged with `contact`, oldest first, at
   * most `historyLimit` of them.
   */
  async history(contact: string): Promise<Array<{ direction: 'in' | 'out'; message: Omit<ReceivedMessage, 'from'> }>> {
    checkProfileName(contact, 'contact');
    const stored = await this.#store.transaction((tx) => new ChatState(tx).messages(contact));
    return stored.map((entry) => ({ direction: entry.direction, message: fromStored(entry) }));
  }

  /**
   * Lists the profiles this store has a session or message history with,
   * newest activity first; contacts without history come last, by name.
   * Reads only the store, so it works before `start()` and offline.
   *
   * @throws ChatError `not_registered`.
   */
  async contacts(): Promise<Contact[]> {
    const registered = await this.#requireRegistered('contacts');
    const found = await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      const byProfile = new Map<string, Contact>();
      const sessionPrefix = sessionKey('');
      for (const key of await tx.keys(sessionPrefix)) {
        const profile = key.slice(sessionPrefix.length);
        const record = await state.sessions(profile);
        byProfile.set(profile, { profile, lastActivity: undefined, hasSession: record !== null && record.sessions.length > 0 });
      }
      const messagesPrefix = messagesKey('');
      for (const key of await tx.keys(messagesPrefix)) {
        const profile = key.slice(messagesPrefix.length);
        const newest = (await state.messages(profile)).at(-1);
        if (newest === undefined) {
          continue;
        }
        const contact = byProfile.get(profile) ?? { profile, lastActivity: undefined, hasSession: false };
        contact.lastActivity = newest.storedAt;
        byProfile.set(profile, contact);
      }
      return [...byProfile.values()];
    });

    return found
      .filter((contact) => contact.profile !== registered.profile && PROFILE_NAME_PATTERN.test(contact.profile))
      .sort(
        (a, b) =>
          (b.lastActivity ?? '').localeCompare(a.lastActivity ?? '') || a.profile.localeCompare(b.profile),
      );
  }

  /**
   * Computes this profile's half of every safety number from the account in
   * the store: the code a contact finds as one half of their safety number
   * with this profile.
   *
   * @throws ChatError `not_registered`.
   */
  async ownSafetyCode(): Promise<OwnSafetyCode> {
    const registered = await this.#requireRegistered('ownSafetyCode');
    const account = await this.#loadAccount();
    return ownSafetyCode(registered.profile, account);
  }

  /**
   * Computes the safety number with `contact` from the trusted identity key,
   * or from the published one when no key is trusted yet.
   *
   * @throws ChatError `not_registered`, `unknown_profile`.
   */
  async safetyNumber(contact: string): Promise<SafetyNumber> {
    checkProfileName(contact, 'contact');
    const registered = await this.#requireRegistered('safetyNumber');
    const { account, trusted } = await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      return { account: await state.account(), trusted: await state.trustedIdentity(contact) };
    });
    if (account === null) {
      throw new ChatError('not_registered', 'the store has a profile but no account; register again');
    }

    const identityKey = trusted ?? (await this.#publishedIdentity(contact));
    const digits = await safetyNumber(
      { profile: registered.profile, identityKey: account.identity.publicKey },
      { profile: contact, identityKey },
    );
    return { digits, formatted: formatSafetyNumber(digits), identityKey, source: trusted === null ? 'published' : 'trusted' };
  }

  /**
   * Trusts the identity key `contact` currently publishes, after the user
   * compared safety numbers. Needed under the `reject` policy after an
   * identity change. Sessions with an older key of the contact are dropped,
   * so the next message starts a new session. Returns the new safety number.
   *
   * @throws ChatError `not_registered`, `unknown_profile`.
   */
  async trustIdentity(contact: string): Promise<SafetyNumber> {
    checkProfileName(contact, 'contact');
    await this.#requireRegistered('trustIdentity');
    const identityKey = await this.#publishedIdentity(contact);
    await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      const current = await state.sessions(contact);

      // Sessions with another identity key end here, so the next send claims a fresh bundle.
      if (current !== null && current.sessions[0]?.remoteIdentityKey !== identityKey) {
        await tx.delete(sessionKey(contact));
      }
      await state.setTrustedIdentity(contact, identityKey);
      await state.setRejectedIdentity(contact, null);
    });
    this.#logger.info({ contact }, 'identity key trusted');
    return this.safetyNumber(contact);
  }

  /** Runs an inbox fetch now; resolves when it finished. Useful after the app regains focus. */
  async sync(): Promise<void> {
    if (this.#receiver === undefined || this.#state !== 'running') {
      throw new ChatError('not_started', 'sync() needs a running chat; call start() first');
    }
    await this.#receiver.fetchNow();
    await this.#acknowledgements?.drain();
  }

  /** Checks prekey rotation and replenishment now; resolves when done. */
  async maintainKeys(): Promise<void> {
    const registered = await this.#requireRegistered('maintainKeys');
    await maintainKeys(this.#store, this.#transport, registered.profile, this.#options.keys, this.#logger);
  }

  async #createClaim(profile: string, userId: string): Promise<AccountState> {
    const account = await createAccount();
    await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      await state.setAccount(account);
      await state.setProfile({ profile, state: 'claimed', userId });
    });
    return account;
  }

  /** Publishes a new identity and prekeys for an owned profile, committing them to the store first. */
  async #replaceIdentity(profile: string, userId: string): Promise<void> {
    const account = await createAccount();
    await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      await state.setAccount(account);
      await state.setProfile({ profile, state: 'claimed', userId });
      for (const key of await tx.keys('session/')) {
        await tx.delete(key);
      }
    });
    // Until the server has the new identity, the profile counts as unregistered: the old account is gone.
    this.#profile = { profile, state: 'claimed', userId };

    try {
      await this.#transport.publishKeys({ action: 'resetIdentity', identity: publicIdentity(account), ...exportPrekeys(account) });
    } catch (error) {
      throw toChatError(error, 'replacing the identity', profile);
    }

    const registered: ProfileRecord = { profile, state: 'registered', userId };
    await this.#store.transaction((tx) => new ChatState(tx).setProfile(registered));
    this.#profile = registered;
    this.#logger.warn({ profile }, 'identity key replaced; contacts will see an identity change');
  }

  /**
   * Checks that the identity published for an owned, claimed profile is the
   * one in this store, so an interrupted registration can be finished. A
   * different key means an identity replacement was interrupted after the
   * store changed, or another store of this user registered the profile.
   */
  async #checkOwnClaim(profile: string): Promise<void> {
    const account = await this.#loadAccount();
    const published = await this.#transport.fetchIdentity(profile).catch((error: unknown) => {
      throw toChatError(error, 'registering', profile);
    });
    if ((published as { identityKey?: unknown } | null)?.identityKey !== account.identity.publicKey) {
      throw new ChatError(
        'already_registered',
        `this user owns ${JSON.stringify(profile)}, but its published identity key is not the one in this store (an identity replacement was interrupted, or another store registered it); register with replaceIdentity to publish new keys from this store`,
      );
    }
  }

  async #claim(profile: string, account: AccountState, userId: string): Promise<void> {
    const identity = publicIdentity(account);
    try {
      await this.#transport.claimProfile(profile, identity);
      return;
    } catch (error) {
      const conflict = claimConflict(error);
      if (conflict !== undefined) {
        // The row may be this account's own claim from an interrupted run.
        const published = await this.#transport.fetchIdentity(profile).catch(() => null);
        if ((published as { identityKey?: unknown } | null)?.identityKey === identity.identityKey) {
          return;
        }
        await this.#forgetClaim();
        if (conflict === 'profile') {
          throw new ChatError('profile_taken', `the profile ${JSON.stringify(profile)} belongs to another user; choose another name`, {
            cause: error,
          });
        }
        throw await this.#alreadyOwnsProfile(profile, userId, error);
      }
      if (isPolicyViolation(error)) {
        await this.#forgetClaim();
        throw new ChatError(
          'rejected',
          `claiming ${JSON.stringify(profile)} was rejected by the database's row level security (${asError(error).message}); check that the client is signed in as the user who registers`,
          { cause: error },
        );
      }
      throw toChatError(error, 'claiming the profile', profile);
    }
  }

  /**
   * Builds the `already_registered` error for a claim that broke the
   * one-profile-per-user rule, naming the profile the user owns when it can
   * be read.
   */
  async #alreadyOwnsProfile(profile: string, userId: string, cause: unknown): Promise<ChatError> {
    const owned = await this.#transport.fetchOwnProfile(userId).catch(() => undefined);
    if (owned === undefined) {
      return new ChatError(
        'already_registered',
        `claiming ${JSON.stringify(profile)} failed: this user already owns a profile, and each user may own only one; register the name this user owns, or sign in as another user`,
        { cause },
      );
    }
    return new ChatError(
      'already_registered',
      `claiming ${JSON.stringify(profile)} failed: this user already owns the profile ${JSON.stringify(owned)}, and each user may own only one; register ${JSON.stringify(owned)} (with replaceIdentity if this store lacks its keys), or sign in as another user`,
      { cause },
    );
  }

  async #forgetClaim(): Promise<void> {
    await this.#store.transaction(async (tx) => {
      await tx.delete('chat/profile');
      await tx.delete('account');
    });
  }

  async #send(to: string, body: Uint8Array, contentType: string): Promise<SentMessage> {
    const registered = await this.#requireRegistered('send');
    if (to === registered.profile) {
      throw new ChatError('invalid_argument', `cannot send to your own profile ${JSON.stringify(to)}; pass a contact's profile`);
    }

    const content = { id: crypto.randomUUID(), sentAt: new Date().toISOString(), contentType, body };
    const hasSession = await this.#store.transaction(async (tx) => {
      const record = await new ChatState(tx).sessions(to);
      return record !== null && record.sessions.length > 0;
    });

    let bundle: unknown;
    if (!hasSession) {
      try {
        bundle = await this.#transport.fetchBundle(to);
      } catch (error) {
        throw toChatError(error, `sending to ${to}`, to);
      }
    }

    let identityChange: IdentityChange | undefined;
    const envelope = await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      const account = await state.account();
      if (account === null) {
        throw new ChatError('not_registered', 'the store has a profile but no account; register again');
      }

      const rejected = await state.rejectedIdentity(to);
      if (rejected !== null) {
        throw new ChatError(
          'identity_changed',
          `sending to ${to} failed: ${to} presented a new identity key that was rejected; compare safety numbers, then call trustIdentity(${JSON.stringify(to)})`,
        );
      }

      let record: SessionRecord | null = await state.sessions(to);
      const trusted = await state.trustedIdentity(to);
      if (bundle !== undefined) {
        let started;
        try {
          started = await initiateSession(account, bundle, {
            record,
            knownIdentityKey: trusted,
            identityPolicy: this.#options.identityPolicy,
          });
        } catch (error) {
          const presented = (bundle as { identity?: { identityKey?: string } }).identity?.identityKey;
          if (trusted !== null && presented !== undefined && presented !== trusted) {
            identityChange = await this.#identityChange(registered.profile, account, to, trusted, presented, false);
          }
          throw toChatError(error, `sending to ${to}`, to);
        }
        record = started.record;
      }
      if (record === null) {
        throw new ChatError('unavailable', `no session with ${to} after claiming its bundle`);
      }

      const current = record.sessions[0]!;
      if (trusted !== null && trusted !== current.remoteIdentityKey) {
        identityChange = await this.#identityChange(registered.profile, account, to, trusted, current.remoteIdentityKey, true);
      }

      const encrypted = await encryptMessage(record, encodeContent(content));
      await state.setSessions(to, encrypted.record);
      await state.setTrustedIdentity(to, current.remoteIdentityKey);
      const outbox = await state.outbox();
      await state.setOutbox([...outbox, { to, messageId: content.id, payload: encrypted.envelope as unknown as JsonValue }]);
      await state.appendMessage(to, toStored(content, 'out', null), this.#options.historyLimit);
      return encrypted.envelope;
    }).catch((error: unknown) => {
      if (identityChange !== undefined) {
        this.#emitter.emit('identityChanged', identityChange);
      }
      throw error;
    });

    if (identityChange !== undefined) {
      this.#emitter.emit('identityChanged', identityChange);
    }

    await this.#deliver(registered.profile, to, content.id, envelope);
    this.#logger.debug({ profile: registered.profile, to, messageId: content.id, type: envelope.type }, 'message sent');
    return { id: content.id, to, sentAt: content.sentAt, contentType };
  }

  /** Inserts an outbox entry's topic, then removes the entry; a failed insert removes it too and throws. */
  async #deliver(from: string, to: string, messageId: string, payload: Envelope | JsonValue): Promise<void> {
    try {
      await this.#transport.sendTopic(from, to, payload);
    } catch (error) {
      // The ratchet already moved on; the gap it leaves is harmless to the recipient.
      await this.#removeFromOutbox(messageId);
      const mapped = toChatError(error, `sending message ${messageId} to ${to}`, to);
      throw new ChatError(mapped.code, `${mapped.message}; the message stays in the history as not sent`, {
        cause: mapped.cause ?? error,
        messageId,
        ...(mapped.retryAfterMs === undefined ? {} : { retryAfterMs: mapped.retryAfterMs }),
      });
    }
    await this.#removeFromOutbox(messageId);
  }

  async #removeFromOutbox(messageId: string): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      const outbox = await state.outbox();
      await state.setOutbox(outbox.filter((entry) => entry.messageId !== messageId));
    });
  }

  /** Sends topics that an earlier run committed but may not have inserted; the recipient drops copies. */
  async #resendOutbox(): Promise<void> {
    const registered = this.#profile!;
    const outbox = await this.#store.transaction((tx) => new ChatState(tx).outbox());
    for (const entry of outbox) {
      try {
        await this.#deliver(registered.profile, entry.to, entry.messageId, entry.payload);
        this.#logger.info({ profile: registered.profile, to: entry.to, messageId: entry.messageId }, 'resent an unconfirmed message');
      } catch (error) {
        this.#logger.warn({ profile: registered.profile, to: entry.to, ...errorFields(error) }, 'resending a message failed');
      }
    }
  }

  async #receive(topic: Parameters<typeof processTopic>[1]): Promise<void> {
    const registered = this.#profile!;
    if (this.#processed.has(topic.id)) {
      this.#acknowledgements?.add(topic.id);
      return;
    }

    const outcome: TopicOutcome = await processTopic(this.#store, topic, {
      profile: registered.profile,
      identityPolicy: this.#options.identityPolicy,
      historyLimit: this.#options.historyLimit,
    });
    this.#processed.add(topic.id);
    if (this.#processed.size > 50_000) {
      this.#processed.clear();
    }

    if (outcome.identityChange !== undefined) {
      this.#emitter.emit('identityChanged', outcome.identityChange);
    }

    switch (outcome.kind) {
      case 'message':
        this.#logger.debug({ profile: registered.profile, topicId: topic.id, from: topic.fromProfile }, 'message received');
        this.#emitter.emit('message', outcome.message);
        for (const queue of this.#iterators) {
          queue.push(outcome.message);
        }
        break;
      case 'duplicate':
        this.#logger.info({ profile: registered.profile, topicId: topic.id, from: topic.fromProfile }, 'dropped a redelivered or duplicate topic');
        break;
      case 'failed':
        this.#logger.warn(
          { profile: registered.profile, topicId: topic.id, from: topic.fromProfile, code: outcome.code },
          'a topic could not be decrypted; it is reported and acknowledged',
        );
        this.#emitter.emit('error', { kind: 'topic', topicId: topic.id, from: topic.fromProfile, code: outcome.code, error: outcome.error });
        break;
    }

    this.#acknowledgements?.add(topic.id);
    if (outcome.usedOneTimePrekey) {
      this.#runMaintenance();
    }
  }

  async #acknowledge(ids: number[]): Promise<void> {
    const unique = [...new Set(ids)].slice(0, MAX_ACKNOWLEDGE_BATCH);
    await this.#transport.acknowledge(unique);
    const done = new Set(unique);
    await this.#store.transaction(async (tx) => {
      const state = new ChatState(tx);
      const inbox = await state.inbox();
      await state.setInbox({ ...inbox, pendingAcknowledgements: inbox.pendingAcknowledgements.filter((id) => !done.has(id)) });
    });
    this.#logger.debug({ profile: this.profile, count: unique.length }, 'topics acknowledged');
  }

  #runMaintenance(): void {
    if (this.#maintenance !== undefined || this.#profile === undefined) {
      return;
    }
    const profile = this.#profile.profile;
    this.#maintenance = maintainKeys(this.#store, this.#transport, profile, this.#options.keys, this.#logger)
      .then(() => undefined)
      .catch((error: unknown) => {
        this.#logger.warn({ profile, ...errorFields(error) }, 'prekey maintenance failed; it runs again on the next interval');
        this.#emitter.emit('error', { kind: 'maintenance', error: asError(error) });
      })
      .finally(() => {
        this.#maintenance = undefined;
      });
  }

  async #teardown(): Promise<void> {
    if (this.#maintenanceTimer !== undefined) {
      clearInterval(this.#maintenanceTimer);
      this.#maintenanceTimer = undefined;
    }
    await this.#receiver?.stop();
    this.#receiver = undefined;
    await this.#maintenance;

    const acknowledgements = this.#acknowledgements;
    this.#acknowledgements = undefined;
    if (acknowledgements !== undefined) {
      await acknowledgements.drain().catch(() => undefined);
      acknowledgements.close();
    }

    this.#stopAuthRefresh?.();
    this.#stopAuthRefresh = undefined;
    for (const queue of this.#iterators) {
      queue.close();
    }
    this.#iterators.clear();
    this.#processed.clear();
    this.#state = 'idle';
  }

  async #identityChange(
    ownProfile: string,
    account: AccountState,
    contact: string,
    previousIdentityKey: string,
    identityKey: string,
    accepted: boolean,
  ): Promise<IdentityChange> {
    const digits = await safetyNumber(
      { profile: ownProfile, identityKey: account.identity.publicKey },
      { profile: contact, identityKey },
    );
    return { profile: contact, previousIdentityKey, identityKey, accepted, safetyNumber: formatSafetyNumber(digits) };
  }

  async #publishedIdentity(contact: string): Promise<string> {
    let published: unknown;
    try {
      published = await this.#transport.fetchIdentity(contact);
    } catch (error) {
      throw toChatError(error, `reading the identity of ${contact}`, contact);
    }
    const identityKey = (published as { v?: unknown; identityKey?: unknown } | null)?.identityKey;
    if (typeof identityKey !== 'string') {
      throw new ChatError('unknown_profile', `the profile ${JSON.stringify(contact)} does not exist or has no identity; check the name`);
    }
    return identityKey;
  }

  async #loadAccount(): Promise<AccountState> {
    const account = await this.#store.transaction((tx) => new ChatState(tx).account());
    if (account === null) {
      throw new ChatError('not_registered', 'the store has a profile record but no account; open a new store and register again');
    }
    return account;
  }

  async #requireRegistered(operation: string): Promise<ProfileRecord> {
    if (this.#profile === undefined) {
      await this.load();
    }
    if (this.#profile?.state !== 'registered') {
      throw new ChatError('not_registered', `${operation}() needs a registered profile; call register(name) first`);
    }
    return this.#profile;
  }

  async #requireUserId(operation: string): Promise<string> {
    let userId: string | undefined;
    try {
      userId = await this.#transport.currentUserId();
    } catch (error) {
      throw toChatError(error, operation);
    }
    if (userId === undefined) {
      throw new ChatError('not_signed_in', `${operation}() needs a signed-in supabase-js client; sign in (for example signInAnonymously) first`);
    }
    return userId;
  }
}

function resolveOptions(options: ChatOptions): ResolvedOptions {
  const integer = (value: number | undefined, fallback: number, min: number, max: number, name: string): number => {
    const resolved = value ?? fallback;
    if (!Number.isInteger(resolved) || resolved < min || resolved > max) {
      throw new ChatError('invalid_argument', `option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
    return resolved;
  };

  const policy = options.identityPolicy ?? 'accept-and-warn';
  if (policy !== 'accept-and-warn' && policy !== 'reject') {
    throw new ChatError('invalid_argument', `option identityPolicy must be "accept-and-warn" or "reject", got ${JSON.stringify(policy)}`);
  }

  const day = 24 * 60 * 60 * 1000;
  return {
    identityPolicy: policy,
    pageSize: integer(options.pageSize, 100, 1, MAX_INBOX_PAGE, 'pageSize'),
    acknowledgeBatchSize: integer(options.acknowledgeBatchSize, 100, 1, MAX_ACKNOWLEDGE_BATCH, 'acknowledgeBatchSize'),
    acknowledgeDelayMs: integer(options.acknowledgeDelayMs, 250, 0, day, 'acknowledgeDelayMs'),
    pollIntervalMs: integer(options.pollIntervalMs, 30_000, 100, day, 'pollIntervalMs'),
    subscribeTimeoutMs: integer(options.subscribeTimeoutMs, 15_000, 100, 10 * 60_000, 'subscribeTimeoutMs'),
    maintenanceIntervalMs: integer(options.maintenanceIntervalMs, 10 * 60_000, 1_000, day, 'maintenanceIntervalMs'),
    historyLimit: integer(options.historyLimit, 1_000, 0, 1_000_000, 'historyLimit'),
    keys: {
      threshold: integer(options.prekeyThreshold, 20, 0, 1_000, 'prekeyThreshold'),
      rotationMs: integer(options.signedPrekeyRotationMs, 7 * day, 1_000, 365 * day, 'signedPrekeyRotationMs'),
    },
  };
}

/** Checks a profile name and throws `invalid_argument` naming the value and the rule. */
export function checkProfileName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || !PROFILE_NAME_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : String(value);
    throw new ChatError(
      'invalid_argument',
      `invalid ${what} name ${shown}: use 3 to 64 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit`,
    );
  }
}

function toStored(
  content: { id: string; sentAt: string; contentType: string; body: Uint8Array },
  direction: 'in' | 'out',
  topicId: number | null,
): StoredMessage {
  return {
    id: content.id,
    direction,
    topicId,
    sentAt: content.sentAt,
    storedAt: new Date().toISOString(),
    contentType: content.contentType,
    body: toBase64Url(content.body),
  };
}

function fromStored(entry: StoredMessage): Omit<ReceivedMessage, 'from'> {
  const body = fromBase64UrlOrNull(entry.body) ?? new Uint8Array();
  return {
    id: entry.id,
    topicId: entry.topicId ?? 0,
    sentAt: entry.sentAt,
    receivedAt: entry.storedAt,
    contentType: entry.contentType,
    body,
    text: isTextContentType(entry.contentType) ? new TextDecoder().decode(body) : undefined,
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
