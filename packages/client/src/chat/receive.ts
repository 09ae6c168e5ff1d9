/**
 * Processing of one inbox topic: decrypt it, and commit the new session
 * state, the message and the topic id in one store transaction, so a crash
 * either keeps all of them or none. A topic whose id was already committed
 * is recognized as redelivered and changes nothing.
 */
import { toBase64Url } from '../protocol/encoding.ts';
import { parseEnvelope } from '../protocol/envelope.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { formatSafetyNumber, safetyNumber, type IdentityPolicy } from '../protocol/identity.ts';
import { decryptEnvelope } from '../protocol/session.ts';
import type { Store } from '../store/store.ts';
import type { IdentityChange, ReceivedMessage } from './chat.ts';
import { ContentError, decodeContent, isTextContentType } from './content.ts';
import { ChatState, markProcessed } from './storage.ts';
import type { InboxTopic } from './transport.ts';

/** Result of processing one topic, which the caller emits after the commit. */
export type TopicOutcome =
  | { kind: 'message'; message: ReceivedMessage; identityChange?: IdentityChange; usedOneTimePrekey: boolean }
  | { kind: 'duplicate'; identityChange?: undefined; usedOneTimePrekey: false }
  | { kind: 'failed'; code: string; error: Error; identityChange?: IdentityChange; usedOneTimePrekey: false };

/** Settings of {@link processTopic}. */
export interface ProcessOptions {
  profile: string;
  identityPolicy: IdentityPolicy;
  historyLimit: number;
}

/**
 * Decrypts `topic` and commits its effects in one transaction. Protocol and
 * content failures are committed as processed and returned as `failed`, so
 * the topic is acknowledged and cannot block the inbox. Store failures are
 * thrown and leave everything as it was.
 */
export async function processTopic(store: Store, topic: InboxTopic, options: ProcessOptions): Promise<TopicOutcome> {
  return store.transaction(async (tx) => {
    const state = new ChatState(tx);
    const inbox = await state.inbox();
    if (inbox.recentTopicIds.includes(topic.id)) {
      return { kind: 'duplicate', usedOneTimePrekey: false };
    }

    const account = await state.account();
    if (account === null) {
      throw new Error('no account found in the store; register the profile again');
    }

    const from = topic.fromProfile;
    const trusted = await state.trustedIdentity(from);
    let identityChange: IdentityChange | undefined;

    try {
      const envelope = parseEnvelope(topic.payload);
      if (envelope.type === 'prekey' && trusted !== null && envelope.identityKey !== trusted) {
        identityChange = await describeChange(options, account.identity.publicKey, from, trusted, envelope.identityKey);
      }

      const result = await decryptEnvelope(account, await state.sessions(from), envelope, {
        knownIdentityKey: trusted,
        identityPolicy: options.identityPolicy,
      });
      const content = decodeContent(result.plaintext);
      const remoteIdentityKey = result.record.sessions[0]!.remoteIdentityKey;
      if (result.identityChanged && identityChange === undefined && trusted !== null) {
        identityChange = await describeChange(options, account.identity.publicKey, from, trusted, remoteIdentityKey);
      }

      if (result.accountChanged) {
        await state.setAccount(result.account);
      }
      await state.setSessions(from, result.record);
      if (trusted !== remoteIdentityKey) {
        await state.setTrustedIdentity(from, remoteIdentityKey);
      }
      await state.setInbox(markProcessed(inbox, topic.id));

      const history = await state.messages(from);
      if (history.some((entry) => entry.direction === 'in' && entry.id === content.id)) {
        return { kind: 'duplicate', usedOneTimePrekey: false };
      }

      const receivedAt = new Date().toISOString();
      await state.appendMessage(
        from,
        {
          id: content.id,
          direction: 'in',
          topicId: topic.id,
          sentAt: content.sentAt,
          storedAt: receivedAt,
          contentType: content.contentType,
          body: toBase64Url(content.body),
        },
        options.historyLimit,
      );

      const message: ReceivedMessage = {
        id: content.id,
        from,
        topicId: topic.id,
        sentAt: content.sentAt,
        receivedAt,
        contentType: content.contentType,
        body: content.body,
        text: isTextContentType(content.contentType) ? new TextDecoder().decode(content.body) : undefined,
      };
      return { kind: 'message', message, identityChange, usedOneTimePrekey: result.accountChanged };
    } catch (error) {
      if (!(error instanceof ProtocolError) && !(error instanceof ContentError)) {
        throw error;
      }

      await state.setInbox(markProcessed(inbox, topic.id));
      if (error instanceof ProtocolError && error.code === 'duplicate_message') {
        return { kind: 'duplicate', usedOneTimePrekey: false };
      }

      if (identityChange !== undefined) {
        identityChange = { ...identityChange, accepted: false };
        if (error instanceof ProtocolError && error.code === 'untrusted_identity') {
          await state.setRejectedIdentity(from, identityChange.identityKey);
        }
      }
      const code = error instanceof ProtocolError ? error.code : 'invalid_content';
      return { kind: 'failed', code, error, identityChange, usedOneTimePrekey: false };
    }
  });
}

async function describeChange(
  options: ProcessOptions,
  ownIdentityKey: string,
  contact: string,
  previousIdentityKey: string,
  identityKey: string,
): Promise<IdentityChange> {
  const digits = await safetyNumber({ profile: options.profile, identityKey: ownIdentityKey }, { profile: contact, identityKey });
  return {
    profile: contact,
    previousIdentityKey,
    identityKey,
    accepted: options.identityPolicy === 'accept-and-warn',
    safetyNumber: formatSafetyNumber(digits),
  };
}

