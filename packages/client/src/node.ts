/**
 * Node entry point: everything of the main entry plus the file-backed store.
 */
export * from './index.ts';
export { FileStore, StoreLockedError } from './store/file.ts';
