/**
 * Entry point of the web demo: opens this device's key store in IndexedDB,
 * signs in with supabase-js, registers a profile and runs the chat.
 */
import './styles.css';

import { createClient, type SupabaseClient } from '@supabase/supabase-js';

import { Chat, ChatError, IndexedDbStore, isChatError, isProtocolError, type Store } from '@parley/client';

import { deviceFromLocation, loadConfig } from './config.ts';
import { errorMessage } from './dom.ts';
import { ChatSession } from './session.ts';
import { ChatScreen } from './ui/chat-screen.ts';
import { renderFatal, renderProfile, renderSignIn } from './ui/entry.ts';

const root = document.getElementById('app')!;

class App {
  readonly #client: SupabaseClient;
  readonly #store: Store;
  readonly #storeName: string;
  readonly #device: string;
  readonly #chat: Chat;
  #session: ChatSession | undefined;

  constructor(client: SupabaseClient, store: Store, storeName: string, device: string) {
    this.#client = client;
    this.#store = store;
    this.#storeName = storeName;
    this.#device = device;
    this.#chat = new Chat(client, store);

    window.addEventListener('online', () => this.#session?.setOffline(false));
    window.addEventListener('offline', () => this.#session?.setOffline(true));
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        this.#session?.markSeen();
        this.#session?.sync().catch(() => undefined);
      }
    });
  }

  /** Shows the screen the current state calls for: sign-in, profile or chat. */
  async route(): Promise<void> {
    const { data, error } = await this.#client.auth.getSession();
    if (error !== null || data.session === null) {
      renderSignIn(root, this.#device, {
        anonymous: async () => {
          const result = await this.#client.auth.signInAnonymously();
          if (result.error !== null) {
            throw new Error(`anonymous sign-in failed: ${result.error.message}`);
          }
          await this.route();
        },
        email: async (email, password, mode) => {
          const result =
            mode === 'sign-up'
              ? await this.#client.auth.signUp({ email, password })
              : await this.#client.auth.signInWithPassword({ email, password });
          if (result.error !== null) {
            throw new Error(`${mode === 'sign-up' ? 'creating the account' : 'signing in'} failed: ${result.error.message}`);
          }
          if (result.data.session === null) {
            throw new Error('the account was created, but the server requires email confirmation: confirm it, then sign in');
          }
          await this.route();
        },
      });
      return;
    }

    const profile = await this.#chat.load();
    if (profile === undefined) {
      renderProfile(
        root,
        async (name) => {
          try {
            await this.#chat.register(name);
          } catch (error) {
            throw await this.#explainRegisterError(error);
          }
          await this.route();
        },
        () => this.signOut(),
      );
      return;
    }

    this.#session = await ChatSession.start(this.#client, this.#store, this.#chat);
    new ChatScreen(root, this.#session, this.#device, { signOut: () => this.signOut() });
    if (!navigator.onLine) {
      this.#session.setOffline(true);
    }
  }

  /**
   * Returns a clearer error when the signed-in user already owns a profile:
   * its keys live on the device that registered it, and a user owns one
   * profile, so this device cannot register another. A name another user
   * owns (`profile_taken`) keeps the chat's own message.
   */
  async #explainRegisterError(error: unknown): Promise<unknown> {
    if (!isChatError(error, 'already_registered')) {
      return error;
    }
    const { data: user } = await this.#client.auth.getUser();
    if (user.user === null) {
      return error;
    }
    const { data } = await this.#client.from('chat_participants').select('profile').eq('owner_id', user.user.id).limit(1);
    const owned = (data as Array<{ profile: string }> | null)?.[0]?.profile;
    if (owned === undefined) {
      return error;
    }
    return new Error(
      `this account already owns the profile "${owned}", whose keys are on the device that registered it. Parley keeps keys on one device: use that device, or sign out and create another account`,
      { cause: error },
    );
  }

  /** Signs out and deletes this device's keys and messages, then starts over. */
  async signOut(): Promise<void> {
    await this.#session?.stop();
    await this.#chat.stop();
    const { error } = await this.#client.auth.signOut();
    if (error !== null) {
      // The server may be gone or the user deleted: forgetting the session here is enough.
      await this.#client.auth.signOut({ scope: 'local' });
    }
    await this.#store.close();
    await IndexedDbStore.delete(this.#storeName);
    location.reload();
  }
}

async function boot(): Promise<void> {
  const device = deviceFromLocation(location);
  const config = await loadConfig();
  const storeName = `parley-demo:${device}`;

  let store: IndexedDbStore;
  try {
    store = await IndexedDbStore.open(storeName);
  } catch (error) {
    showStoreError(error, storeName);
    return;
  }

  const client = createClient(config.supabaseUrl, config.anonKey, {
    auth: { storageKey: `parley-demo:${device}:auth`, persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
  });
  const app = new App(client, store, storeName, device);
  try {
    await app.route();
  } catch (error) {
    const title = error instanceof ChatError ? `The chat failed to start (${error.code})` : 'The demo failed to start';
    renderFatal(root, title, errorMessage(error), [
      { label: 'Reload', run: async () => location.reload() },
      { label: 'Sign out and delete this device’s keys', run: () => app.signOut() },
    ]);
  }
}

function showStoreError(error: unknown, storeName: string): void {
  if (isProtocolError(error, 'store_locked')) {
    renderFatal(root, 'This device’s key store is open in another tab', errorMessage(error), [
      { label: 'Reload', run: async () => location.reload() },
    ]);
    return;
  }
  const canStartOver = isProtocolError(error, 'unsupported_version') || isProtocolError(error, 'store_corrupt') || isProtocolError(error, 'store_foreign');
  renderFatal(
    root,
    'This device’s key store cannot be opened',
    errorMessage(error),
    canStartOver
      ? [
          {
            label: 'Delete the local keys and messages and start over',
            run: async () => {
              await IndexedDbStore.delete(storeName);
              location.reload();
            },
          },
        ]
      : [{ label: 'Reload', run: async () => location.reload() }],
  );
}

boot().catch((error: unknown) => {
  renderFatal(root, 'The demo failed to start', errorMessage(error), [{ label: 'Reload', run: async () => location.reload() }]);
});
