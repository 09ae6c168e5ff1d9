/**
 * Layout of the chat layer's data in the Store (besides the protocol
 * states), and typed access to it inside one transaction. Every value is JSON.
 *
 * Keys (the protocol's own: `account`, `session/<profile>`, `identity/<profile>`):
 * - `chat/profile`: the registered profile and its registration state
 * - `chat/inbox`: ids of processed topics, and those still to acknowledge
 * - `chat/outbox`: encrypted topics committed but not yet confirmed as sent
 * - `chat/messages/<profile>`: the latest messages exchanged with a contact
 * - `chat/rejected-identity/<profile>`: an identity key a contact presented
 *   that the `reject` policy refused, until `trustIdentity`
 */
import type { AccountState } from '../protocol/account.ts';
import type { SessionRecord } from '../protocol/session.ts';
import {
  loadAccount,
  loadSessionRecord,
  loadTrustedIdentity,
  saveAccount,
  saveSessionRecord,
  saveTrustedIdentity,
  type JsonValue,
  type StoreTransaction,
} from '../store/store.ts';

/** Registration of the local profile. */
export interface ProfileRecord {
  profile: string;
  /** `claimed` until the first prekeys are published, then `registered`. */
  state: 'claimed' | 'registered';
  /** Auth user id that claimed the profile. */
  userId: string;
}

/** Topic ids processed by this device. */
export interface InboxRecord {
  /** Processed and committed, not yet confirmed as acknowledged. */
  pendingAcknowledgements: number[];
  /** The latest processed ids, newest last, so a redelivered topic is recognized. */
  recentTopicIds: number[];
}

/** An encrypted topic waiting to be confirmed as inserted. */
export interface OutboxEntry {
  to: string;
  messageId: string;
  payload: JsonValue;
}

/** A message as kept in the store. */
export interface StoredMessage {
  /** Message id from the content. */
  id: string;
  direction: 'in' | 'out';
  /** Topic id it arrived in, for incoming messages; null for outgoing ones. */
  topicId: number | null;
  sentAt: string;
  /** Local time it was committed, ISO 8601. */
  storedAt: string;
  contentType: string;
  /** Body as base64url. */
  body: string;
}

/** Processed topic ids remembered for recognizing redelivery. */
export const MAX_RECENT_TOPIC_IDS = 10_000;

/** Store key of the registered profile ({@link ProfileRecord}). */
export const PROFILE_KEY = 'chat/profile';

/** Store key of the processed topic ids ({@link InboxRecord}). */
export const INBOX_KEY = 'chat/inbox';

/** Store key of the topics committed but not yet confirmed as sent ({@link OutboxEntry}[]). */
export const OUTBOX_KEY = 'chat/outbox';

/** Store key of a contact's message history. */
export function messagesKey(profile: string): string {
  return `chat/messages/${profile}`;
}

/** Store key of an identity key the `reject` policy refused. */
export function rejectedIdentityKey(profile: string): string {
  return `chat/rejected-identity/${profile}`;
}

/** Typed accessors over one transaction. */
export class ChatState {
  readonly #tx: StoreTransaction;

  constructor(tx: StoreTransaction) {
    this.#tx = tx;
  }

  /** Returns the registered profile, or undefined before registration. */
  async profile(): Promise<ProfileRecord | undefined> {
    return (await this.#tx.get(PROFILE_KEY)) as ProfileRecord | undefined;
  }

  async setProfile(record: ProfileRecord): Promise<void> {
    await this.#tx.put(PROFILE_KEY, record as unknown as JsonValue);
  }

  async account(): Promise<AccountState | null> {
    return loadAccount(this.#tx);
  }

  async setAccount(account: AccountState): Promise<void> {
    await saveAccount(this.#tx, account);
  }

  async sessions(profile: string): Promise<SessionRecord | null> {
    return loadSessionRecord(this.#tx, profile);
  }

  async setSessions(profile: string, record: SessionRecord): Promise<void> {
    await saveSessionRecord(this.#tx, profile, record);
  }

  async trustedIdentity(profile: string): Promise<string | null> {
    return loadTrustedIdentity(this.#tx, profile);
  }

  async setTrustedIdentity(profile: string, identityKey: string): Promise<void> {
    await saveTrustedIdentity(this.#tx, profile, identityKey);
  }

  /** Returns the identity key the `reject` policy refused for `profile`, or null. */
  async rejectedIdentity(profile: string): Promise<string | null> {
    const value = await this.#tx.get(rejectedIdentityKey(profile));
    return typeof value === 'string' ? value : null;
  }

  async setRejectedIdentity(profile: string, identityKey: string | null): Promise<void> {
    if (identityKey === null) {
      await this.#tx.delete(rejectedIdentityKey(profile));
    } else {
      await this.#tx.put(rejectedIdentityKey(profile), identityKey);
    }
  }

  async inbox(): Promise<InboxRecord> {
    const value = (await this.#tx.get(INBOX_KEY)) as InboxRecord | undefined;
    return value ?? { pendingAcknowledgements: [], recentTopicIds: [] };
  }

  async setInbox(record: InboxRecord): Promise<void> {
    await this.#tx.put(INBOX_KEY, record as unknown as JsonValue);
  }

  async outbox(): Promise<OutboxEntry[]> {
    return ((await this.#tx.get(OUTBOX_KEY)) as OutboxEntry[] | undefined) ?? [];
  }

  async setOutbox(entries: OutboxEntry[]): Promise<void> {
    await this.#tx.put(OUTBOX_KEY, entries as unknown as JsonValue);
  }

  async messages(profile: string): Promise<StoredMessage[]> {
    return ((await this.#tx.get(messagesKey(profile))) as StoredMessage[] | undefined) ?? [];
  }

  /** Appends a message to a contact's history, keeping the newest `limit`. */
  async appendMessage(profile: string, message: StoredMessage, limit: number): Promise<void> {
    const history = await this.messages(profile);
    history.push(message);
    const kept = history.slice(Math.max(0, history.length - limit));
    await this.#tx.put(messagesKey(profile), kept as unknown as JsonValue);
  }
}

/** Records a topic id as processed: to acknowledge, and remembered for redelivery. */
export function markProcessed(inbox: InboxRecord, topicId: number): InboxRecord {
  const recent = inbox.recentTopicIds.includes(topicId) ? inbox.recentTopicIds : [...inbox.recentTopicIds, topicId];
  const pending = inbox.pendingAcknowledgements.includes(topicId)
    ? inbox.pendingAcknowledgements
    : [...inbox.pendingAcknowledgements, topicId];
  return {
    pendingAcknowledgements: pending,
    recentTopicIds: recent.slice(Math.max(0, recent.length - MAX_RECENT_TOPIC_IDS)),
  };
}
