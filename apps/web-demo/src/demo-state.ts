/**
 * The demo's own records in the SDK's Store, next to the chat's entries and
 * under the `web-demo/` prefix: pending identity-change warnings, blocked
 * contacts and the ids of messages that failed to send. The contact list
 * comes from `Chat.contacts()`.
 */
import type { JsonValue, Store, StoreTransaction } from '@parley/client';

/** A contact-list entry as earlier versions of the demo stored it. */
export interface LegacyContact {
  profile: string;
  /** Time of the last message in either direction, ISO 8601. */
  lastActivity: string;
}

/** An identity change the user has not yet accepted or blocked. */
export interface IdentityWarning {
  previousIdentityKey: string;
  identityKey: string;
  /** Safety number with the new key, 12 groups of 5 digits. */
  safetyNumber: string;
  /** When the change was seen, ISO 8601. */
  seenAt: string;
}

/** Everything the demo keeps besides the chat's entries. */
export interface DemoRecords {
  /**
   * The contact list of earlier versions of the demo, kept unchanged so
   * contacts without history still show; new contacts are not added here.
   */
  contacts?: LegacyContact[];
  warnings: Record<string, IdentityWarning>;
  blocked: string[];
  /** Per contact, ids of outgoing messages whose send failed. */
  failed: Record<string, string[]>;
}

const KEY = 'web-demo/records';

/** Failed message ids kept per contact; older ones fall back to "sent" after a reload. */
const MAX_FAILED_PER_CONTACT = 200;

function empty(): DemoRecords {
  return { warnings: {}, blocked: [], failed: {} };
}

async function read(tx: StoreTransaction): Promise<DemoRecords> {
  const value = (await tx.get(KEY)) as Partial<DemoRecords> | undefined;
  return { ...empty(), ...(value ?? {}) };
}

/** Reads the demo records. */
export function loadRecords(store: Store): Promise<DemoRecords> {
  return store.transaction(read);
}

/** Applies `change` to the records in one transaction and returns the result. */
export function updateRecords(store: Store, change: (records: DemoRecords) => void): Promise<DemoRecords> {
  return store.transaction(async (tx) => {
    const records = await read(tx);
    change(records);
    await tx.put(KEY, records as unknown as JsonValue);
    return records;
  });
}

/** Records a failed outgoing message id. */
export function markFailed(records: DemoRecords, contact: string, messageId: string): void {
  const ids = records.failed[contact] ?? [];
  ids.push(messageId);
  records.failed[contact] = ids.slice(-MAX_FAILED_PER_CONTACT);
}
