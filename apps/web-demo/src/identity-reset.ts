/**
 * Replaces this device's identity key, as reinstalling the app would: new
 * identity and prekeys on the server (`publish-keys` with `resetIdentity`),
 * the new account in the store, and every session dropped, because sessions
 * were agreed with the old key. Contacts see an identity-change warning with
 * the next message.
 *
 * The chat must be stopped while this runs.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { FunctionsHttpError } from '@supabase/supabase-js';

import { createAccount, exportPrekeys, publicIdentity, saveAccount, sessionKey, type Store } from '@parley/client';

export async function resetIdentity(client: SupabaseClient, store: Store): Promise<void> {
  const account = await createAccount();
  const body = { action: 'resetIdentity', identity: publicIdentity(account), ...exportPrekeys(account) };

  const { error } = await client.functions.invoke('publish-keys', { body });
  if (error !== null) {
    throw new Error(`publishing the new identity failed: ${await functionErrorMessage(error)}; your old identity is unchanged`);
  }

  // NOTE: a failure between the upload above and this commit leaves the server with a key this device lacks.
  await store.transaction(async (tx) => {
    await saveAccount(tx, account);
    for (const key of await tx.keys(sessionKey(''))) {
      await tx.delete(key);
    }
  });
}

async function functionErrorMessage(error: Error): Promise<string> {
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response;
    try {
      const body = (await response.json()) as { error?: { message?: unknown } };
      if (typeof body.error?.message === 'string') {
        return `HTTP ${response.status}: ${body.error.message}`;
      }
    } catch {
      // The body is not JSON; the status alone is reported.
    }
    return `HTTP ${response.status}`;
  }
  return error.message;
}
