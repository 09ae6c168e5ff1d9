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
 * Decrypts `topic` and commits its effects in one transaction. A topic that
 * fails to parse, decrypt or decode is committed as processed and returned
 * as `failed`, so it is acknowledged and cannot block the inbox. Store
 * failures are thrown and leave everything as it was.
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
    const sessions = await state.sessions(from);
    let identityChange: IdentityChange | undefined;

    // Only the topic's own content is untrusted: any failure to parse, decrypt
    // or decode it is the topic's fault and must not block the inbox.
    let decrypted;
    let content;
    try {
      const envelope = parseEnvelope(topic.payload);
      if (envelope.type === 'prekey' && trusted !== null && envelope.identityKey !== trusted) {
        identityChange = await describeChange(options, account.identity.publicKey, from, trusted, envelope.identityKey);
      }

      decrypted = await decryptEnvelope(account, sessions, envelope, {
        knownIdentityKey: trusted,
        identityPolicy: options.identityPolicy,
      });
      content = decodeContent(decrypted.plaintext);
    } catch (error) {
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
      return { kind: 'failed', code: failureCode(error), error: asError(error), identityChange, usedOneTimePrekey: false };
    }

    const remoteIdentityKey = decrypted.record.sessions[0]!.remoteIdentityKey;
    if (decrypted.identityChanged && identityChange === undefined && trusted !== null) {
      identityChange = await describeChange(options, account.identity.publicKey, from, trusted, remoteIdentityKey);
    }

    if (decrypted.accountChanged) {
      await state.setAccount(decrypted.account);
    }
    await state.setSessions(from, decrypted.record);
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
    return { kind: 'message', message, identityChange, usedOneTimePrekey: decrypted.accountChanged };
  });
}

/** Returns the error code reported for a topic: the protocol's code, `invalid_content`, or `decryption_failed`. */
function failureCode(error: unknown): string {
  if (error instanceof ProtocolError) {
    return error.code;
  }
  if (error instanceof ContentError) {
    return 'invalid_content';
  }
  return 'decryption_failed';
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
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

