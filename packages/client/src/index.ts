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
