/**
 * The signed-in, registered user's chat: the state the views render, kept in
 * step with the SDK's events. Views call the methods here and re-render on
 * `onChange`; nothing here builds DOM elements.
 */
import type { SupabaseClient } from '@supabase/supabase-js';

import {
  Chat,
  isChatError,
  type ChatErrorEvent,
  type IdentityChange,
  type ReceivedMessage,
  type Store,
} from '@parley/client';

import { loadRecords, markFailed, updateRecords, type DemoRecords, type IdentityWarning } from './demo-state.ts';
import { errorMessage } from './dom.ts';
import { decodeReceipt, encodeReceipt, isReceipt, MAX_RECEIPT_IDS, RECEIPT_CONTENT_TYPE } from './receipts.ts';

/** Delivery state of an outgoing message. */
export type MessageState = 'sending' | 'sent' | 'delivered' | 'failed';

/** A message as the conversation view shows it. */
export interface ViewMessage {
  /** Stable key for the view: the message id, or a local key while sending. */
  key: string;
  /** Message id, once known. */
  id: string | undefined;
  direction: 'in' | 'out';
  text: string;
  /** Sender's time, ISO 8601. */
  at: string;
  /** For outgoing messages. */
  state: MessageState | undefined;
  /** Error message of a failed send. */
  error: string | undefined;
}

/** State of the inbox connection as the header shows it. */
export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'paused';

/** An entry of the contact list. */
export interface ContactEntry {
  profile: string;
  /** Time of the newest message in either direction, ISO 8601; empty for a contact without history. */
  lastActivity: string;
}

/** A row of `chat_topics` as the server stores it, read with the user's own rights. */
export interface PendingRow {
  id: number;
  created_at: string;
  from_profile: string;
  payload: unknown;
}

/** Milliseconds incoming message ids wait to be sent back in one receipt. */
const RECEIPT_DELAY_MS = 200;

/** Notices kept for the status area. */
const MAX_NOTICES = 3;

/** Milliseconds a notice stays on screen. */
const NOTICE_MS = 6000;

interface Conversation {
  messages: ViewMessage[];
  delivered: Set<string>;
}

export class ChatSession {
  readonly profile: string;
  readonly chat: Chat;
  readonly client: SupabaseClient;
  readonly store: Store;
  /** Called after every state change the views show. */
  onChange: () => void = () => {};

  records: DemoRecords;
  /** The contact list, newest activity first. */
  contacts: ContactEntry[] = [];
  connection: ConnectionStatus = 'connecting';
  openContact: string | undefined;
  readonly unread = new Map<string, number>();
  notices: string[] = [];

  readonly #conversations = new Map<string, Conversation>();
  /**
   * Contacts the chat's store may not list yet, with their last activity:
   * those added in this tab before the first message, and the contact list
   * of earlier versions of the demo.
   */
  readonly #extraContacts = new Map<string, string>();
  readonly #receiptQueue = new Map<string, string[]>();
  /** Receipts for contacts with a pending identity warning, sent once the user accepts. */
  readonly #heldReceipts = new Map<string, string[]>();
  #receiptTimer: ReturnType<typeof setTimeout> | undefined;
  #localKeys = 0;
  #paused = false;
  readonly #detach: Array<() => void> = [];

  private constructor(client: SupabaseClient, store: Store, chat: Chat, profile: string, records: DemoRecords) {
    this.client = client;
    this.store = store;
    this.chat = chat;
    this.profile = profile;
    this.records = records;
  }

  /** Creates the session for a registered chat and starts receiving. */
  static async start(client: SupabaseClient, store: Store, chat: Chat): Promise<ChatSession> {
    const profile = chat.profile;
    if (profile === undefined) {
      throw new Error('the chat has no registered profile: register one first');
    }
    const records = await loadRecords(store);
    const session = new ChatSession(client, store, chat, profile, records);
    for (const contact of records.contacts ?? []) {
      session.#extraContacts.set(contact.profile, contact.lastActivity);
    }
    await session.#refreshContacts();
    session.#listen();
    await session.#startChat();
    return session;
  }

  /** Stops receiving and removes every listener. */
  async stop(): Promise<void> {
    for (const detach of this.#detach.splice(0)) {
      detach();
    }
    clearTimeout(this.#receiptTimer);
    await this.chat.stop();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Messages of the open conversation, oldest first, without incoming ones from a blocked contact. */
  get messages(): ViewMessage[] {
    const contact = this.openContact;
    if (contact === undefined) {
      return [];
    }
    const messages = this.#conversations.get(contact)?.messages ?? [];
    return this.isBlocked(contact) ? messages.filter((message) => message.direction === 'out') : messages;
  }

  warning(contact: string): IdentityWarning | undefined {
    return this.records.warnings[contact];
  }

  isBlocked(contact: string): boolean {
    return this.records.blocked.includes(contact);
  }

  /** Opens the conversation with `contact`, loading its history from the store. */
  async open(contact: string): Promise<void> {
    this.openContact = contact;
    this.unread.delete(contact);
    if (!this.#conversations.has(contact)) {
      this.#conversations.set(contact, await this.#loadConversation(contact));
    }
    this.onChange();
  }

  /** Clears the unread count of the open conversation, for example when the tab is shown again. */
  markSeen(): void {
    if (this.openContact !== undefined && this.unread.delete(this.openContact)) {
      this.onChange();
    }
  }

  closeConversation(): void {
    this.openContact = undefined;
    this.onChange();
  }

  /**
   * Adds `contact` to the contact list after checking that the profile
   * exists, and opens the conversation.
   *
   * @throws ChatError `invalid_argument` or `unknown_profile`.
   */
  async addContact(contact: string): Promise<void> {
    if (contact === this.profile) {
      throw new Error(`${contact} is your own profile: enter the profile name of the person you want to write to`);
    }
    await this.chat.safetyNumber(contact);
    this.#extraContacts.set(contact, new Date().toISOString());
    await this.#refreshContacts();
    await this.open(contact);
  }

  /** Sends `text` to the open contact; the message shows as sending, then sent, then delivered. */
  async send(text: string): Promise<void> {
    const contact = this.openContact;
    if (contact === undefined) {
      throw new Error('no conversation is open: choose a contact first');
    }
    const conversation = this.#conversations.get(contact)!;
    const item: ViewMessage = {
      key: `local-${++this.#localKeys}`,
      id: undefined,
      direction: 'out',
      text,
      at: new Date().toISOString(),
      state: 'sending',
      error: undefined,
    };
    conversation.messages.push(item);
    this.onChange();

    try {
      const sent = await this.chat.send(contact, text);
      item.id = sent.id;
      item.at = sent.sentAt;
      item.state = conversation.delivered.has(sent.id) ? 'delivered' : 'sent';
    } catch (error) {
      item.state = 'failed';
      item.error = errorMessage(error);
      // A message id means the chat stored the message before the send failed, so it shows again after a reload.
      const id = isChatError(error) ? error.messageId : undefined;
      if (id !== undefined) {
        item.id = id;
        this.records = await updateRecords(this.store, (records) => markFailed(records, contact, id));
      }
    }
    await this.#refreshContacts();
    this.onChange();
  }

  /** Safety number with `contact`, 12 groups of 5 digits. */
  async contactSafetyNumber(contact: string): Promise<{ formatted: string; source: 'trusted' | 'published' }> {
    const number = await this.chat.safetyNumber(contact);
    return { formatted: number.formatted, source: number.source };
  }

  /**
   * Returns this device's half of every safety number: 30 digits derived from
   * the profile and identity key, in 6 groups of 5.
   */
  async ownSafetyCode(): Promise<{ code: string; identityKey: string }> {
    const own = await this.chat.ownSafetyCode();
    return { code: own.formatted, identityKey: own.identityKey };
  }

  /** Trusts the contact's new identity key and clears the warning. */
  async acceptIdentity(contact: string): Promise<void> {
    await this.chat.trustIdentity(contact);
    this.records = await updateRecords(this.store, (records) => {
      delete records.warnings[contact];
    });
    this.#notice(`You accepted the new safety number of ${contact}.`);
    for (const id of this.#heldReceipts.get(contact) ?? []) {
      this.#queueReceipt(contact, id);
    }
    this.#heldReceipts.delete(contact);
  }

  /** Blocks the contact: their messages are hidden and nothing is sent to them. */
  async block(contact: string): Promise<void> {
    this.records = await updateRecords(this.store, (records) => {
      delete records.warnings[contact];
      if (!records.blocked.includes(contact)) {
        records.blocked.push(contact);
      }
    });
    this.#receiptQueue.delete(contact);
    this.#heldReceipts.delete(contact);
    this.onChange();
  }

  async unblock(contact: string): Promise<void> {
    this.records = await updateRecords(this.store, (records) => {
      records.blocked = records.blocked.filter((profile) => profile !== contact);
    });
    this.#conversations.set(contact, await this.#loadConversation(contact));
    this.onChange();
  }

  /** Stops or resumes receiving, so topics wait on the server as encrypted rows. */
  async setPaused(paused: boolean): Promise<void> {
    if (paused === this.#paused) {
      return;
    }
    this.#paused = paused;
    if (paused) {
      await this.chat.stop();
      this.connection = 'paused';
      this.onChange();
    } else {
      await this.#startChat();
    }
  }

  /** Fetches new topics now, for example when the browser is back online. */
  async sync(): Promise<void> {
    if (this.chat.running) {
      await this.chat.sync();
    }
  }

  setOffline(offline: boolean): void {
    if (offline) {
      this.connection = 'offline';
      this.onChange();
    } else if (!this.#paused) {
      this.connection = 'reconnecting';
      this.onChange();
      this.sync().catch((error: unknown) => this.#notice(`Catching up failed: ${errorMessage(error)}`));
    }
  }

  /**
   * Reads the topics from `contact` that wait in this user's inbox: what the
   * server stores for the conversation. Row level security lets a user read
   * only their own inbox, so topics sent to the contact are not visible here.
   */
  async pendingRows(contact: string): Promise<PendingRow[]> {
    const { data, error } = await this.client
      .from('chat_topics')
      .select('id, created_at, from_profile, payload')
      .eq('from_profile', contact)
      .order('id', { ascending: true })
      .limit(50);
    if (error !== null) {
      throw new Error(`reading the pending topics failed: ${error.message}`);
    }
    return data as PendingRow[];
  }

  /**
   * Replaces this device's identity key through the chat, as the command-line
   * chat's `--new-identity` does; contacts get a warning with the next
   * message. A failure before the store changed restarts the chat with the
   * old key. A later failure leaves the chat stopped, because the store
   * already contains the new keys, and calling this again finishes the reset.
   */
  async resetIdentity(): Promise<void> {
    await this.chat.stop();
    this.connection = 'connecting';
    this.onChange();
    try {
      await this.chat.register(this.profile, { replaceIdentity: true });
    } catch (error) {
      if (this.chat.profile !== undefined && !this.#paused) {
        await this.#startChat();
      } else {
        this.connection = 'paused';
        this.onChange();
      }
      throw error;
    }
    if (!this.#paused) {
      await this.#startChat();
    }
    this.#notice('Your identity key was replaced. Your contacts will see a safety number warning.');
  }

  async #startChat(): Promise<void> {
    this.connection = 'connecting';
    this.onChange();
    await this.chat.start();
    this.connection = 'connected';
    this.onChange();
  }

  #listen(): void {
    this.#detach.push(
      this.chat.on('message', (message) => {
        void this.#onMessage(message).catch((error: unknown) => this.#notice(`Showing a message failed: ${errorMessage(error)}`));
      }),
      this.chat.on('identityChanged', (change) => {
        void this.#onIdentityChanged(change).catch((error: unknown) => this.#notice(errorMessage(error)));
      }),
      this.chat.on('error', (event) => this.#onError(event)),
      this.chat.on('connection', ({ status }) => {
        if (this.#paused || this.connection === 'offline') {
          return;
        }
        this.connection = status === 'subscribed' ? 'connected' : 'reconnecting';
        this.onChange();
      }),
    );
  }

  async #onMessage(message: ReceivedMessage): Promise<void> {
    const contact = message.from;
    if (this.isBlocked(contact)) {
      return;
    }
    const conversation = this.#conversations.get(contact);

    if (isReceipt(message.contentType)) {
      const ids = decodeReceipt(message.body);
      if (conversation !== undefined) {
        applyReceipt(conversation, ids);
        this.onChange();
      }
      return;
    }

    await this.#refreshContacts();
    if (conversation !== undefined) {
      conversation.messages.push(incoming(message.id, message.text, message.contentType, message.body.length, message.sentAt));
    }
    if (this.openContact !== contact || document.hidden) {
      this.unread.set(contact, (this.unread.get(contact) ?? 0) + 1);
    }
    this.#queueReceipt(contact, message.id);
    this.onChange();
  }

  async #onIdentityChanged(change: IdentityChange): Promise<void> {
    const warning: IdentityWarning = {
      previousIdentityKey: change.previousIdentityKey,
      identityKey: change.identityKey,
      safetyNumber: change.safetyNumber,
      seenAt: new Date().toISOString(),
    };
    this.records = await updateRecords(this.store, (records) => {
      records.warnings[change.profile] = warning;
    });
    this.#extraContacts.set(change.profile, warning.seenAt);
    await this.#refreshContacts();
    this.onChange();
  }

  #onError(event: ChatErrorEvent): void {
    if (event.kind === 'topic') {
      this.#notice(`A message from ${event.from} could not be decrypted (${event.code}).`);
    } else if (event.kind === 'fetch' && this.connection === 'offline') {
      // Expected while offline; the next sync after reconnecting catches up.
    } else {
      this.#notice(`Background ${event.kind} failed: ${event.error.message}`);
    }
  }

  #notice(text: string): void {
    this.notices = [...this.notices.filter((notice) => notice !== text), text].slice(-MAX_NOTICES);
    this.onChange();
    setTimeout(() => {
      this.notices = this.notices.filter((notice) => notice !== text);
      this.onChange();
    }, NOTICE_MS);
  }

  #queueReceipt(contact: string, messageId: string): void {
    if (this.records.warnings[contact] !== undefined) {
      // No receipts to a key the user has not accepted yet: they wait for the user's choice.
      this.#heldReceipts.set(contact, [...(this.#heldReceipts.get(contact) ?? []), messageId]);
      return;
    }
    const ids = this.#receiptQueue.get(contact) ?? [];
    ids.push(messageId);
    this.#receiptQueue.set(contact, ids);
    this.#receiptTimer ??= setTimeout(() => {
      this.#receiptTimer = undefined;
      this.#flushReceipts();
    }, RECEIPT_DELAY_MS);
  }

  #flushReceipts(): void {
    for (const [contact, ids] of this.#receiptQueue) {
      this.#receiptQueue.delete(contact);
      for (let start = 0; start < ids.length; start += MAX_RECEIPT_IDS) {
        const chunk = ids.slice(start, start + MAX_RECEIPT_IDS);
        this.chat
          .send(contact, encodeReceipt(chunk), { contentType: RECEIPT_CONTENT_TYPE })
          .catch((error: unknown) => this.#notice(`Sending a delivery receipt to ${contact} failed: ${errorMessage(error)}`));
      }
    }
  }

  async #loadConversation(contact: string): Promise<Conversation> {
    const history = await this.chat.history(contact);
    const conversation: Conversation = { messages: [], delivered: new Set() };
    const failed = new Set(this.records.failed[contact] ?? []);

    for (const { direction, message } of history) {
      if (isReceipt(message.contentType)) {
        if (direction === 'in') {
          for (const id of decodeReceipt(message.body)) {
            conversation.delivered.add(id);
          }
        }
        continue;
      }
      if (direction === 'in') {
        conversation.messages.push(incoming(message.id, message.text, message.contentType, message.body.length, message.sentAt));
      } else {
        conversation.messages.push({
          key: message.id,
          id: message.id,
          direction: 'out',
          text: message.text ?? `(${message.contentType}, ${message.body.length} bytes)`,
          at: message.sentAt,
          state: failed.has(message.id) ? 'failed' : 'sent',
          error: failed.has(message.id) ? 'sending failed' : undefined,
        });
      }
    }
    applyReceipt(conversation, []);
    return conversation;
  }

  /** Rebuilds the contact list from the chat's store and the contacts it does not list yet. */
  async #refreshContacts(): Promise<void> {
    const latest = new Map(this.#extraContacts);
    for (const contact of await this.chat.contacts()) {
      const at = contact.lastActivity ?? '';
      if ((latest.get(contact.profile) ?? '') <= at) {
        latest.set(contact.profile, at);
      }
    }
    latest.delete(this.profile);
    this.contacts = [...latest]
      .map(([profile, lastActivity]) => ({ profile, lastActivity }))
      .sort((a, b) => b.lastActivity.localeCompare(a.lastActivity) || a.profile.localeCompare(b.profile));
  }
}

function incoming(id: string, text: string | undefined, contentType: string, size: number, at: string): ViewMessage {
  return {
    key: id,
    id,
    direction: 'in',
    text: text ?? `(${contentType}, ${size} bytes)`,
    at,
    state: undefined,
    error: undefined,
  };
}

/** Marks the outgoing messages named in a receipt, and earlier receipts, as delivered. */
function applyReceipt(conversation: Conversation, ids: readonly string[]): void {
  for (const id of ids) {
    conversation.delivered.add(id);
  }
  for (const message of conversation.messages) {
    if (message.direction === 'out' && message.id !== undefined && conversation.delivered.has(message.id) && message.state !== 'sending') {
      message.state = 'delivered';
      message.error = undefined;
    }
  }
}
