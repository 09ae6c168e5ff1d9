/**
 * Parley client SDK. Runs in browsers, Node >= 20 and Deno; the Node-only
 * file store is exported from `@parley/client/node`.
 */
export * from './protocol/index.ts';

export {
  ACCOUNT_KEY,
  identityKey,
  loadAccount,
  loadSessionRecord,
  loadTrustedIdentity,
  saveAccount,
  saveSessionRecord,
  saveTrustedIdentity,
  sessionKey,
} from './store/store.ts';
export type { JsonValue, Store, StoreTransaction } from './store/store.ts';
export { MemoryStore } from './store/memory.ts';
export { IndexedDbStore, INDEXEDDB_SCHEMA_VERSION } from './store/indexeddb.ts';
export type { IndexedDbStoreOptions } from './store/indexeddb.ts';

export { Chat, MAX_MESSAGE_BYTES, PROFILE_NAME_PATTERN } from './chat/chat.ts';
export type {
  BackgroundError,
  ChatErrorEvent,
  ChatEvents,
  ChatOptions,
  ConnectionState,
  Contact,
  IdentityChange,
  ReceivedMessage,
  RegisterOptions,
  SafetyNumber,
  SendOptions,
  SentMessage,
  TopicError,
} from './chat/chat.ts';
export { ChatError, isChatError } from './chat/errors.ts';
export { ownSafetyCode } from './chat/fingerprint.ts';
export type { OwnSafetyCode } from './chat/fingerprint.ts';
export type { ChatErrorCode } from './chat/errors.ts';
export type { ChatLogger, LogFunction } from './chat/logger.ts';
export { DEFAULT_RETRY_POLICY, TransportError } from './chat/retry.ts';
export type { RetryPolicy } from './chat/retry.ts';
export { TEXT_CONTENT_TYPE } from './chat/content.ts';
