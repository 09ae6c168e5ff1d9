/**
 * Shared pieces of the end-to-end suite: users with their own supabase-js
 * client and store, a superuser connection for checks no client may make,
 * and waiting helpers.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import postgres from 'postgres';
import { inject } from 'vitest';
import WebSocket from 'ws';

import { Chat, type ChatOptions, type ReceivedMessage } from '../../packages/client/src/chat/chat.ts';
import { MemoryStore } from '../../packages/client/src/store/memory.ts';
import type { Store } from '../../packages/client/src/store/store.ts';
import type { StackInfo } from './stack-info.ts';

/** Returns the backend of this run. */
export function stack(): StackInfo {
  return inject('stack');
}

/** Creates a supabase-js client as an app on Node 20 would, signed in anonymously. */
export async function signedInClient(): Promise<SupabaseClient> {
  const info = stack();
  const client = createClient(info.apiUrl, info.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
  });
  const { error } = await client.auth.signInAnonymously();
  if (error !== null) {
    throw new Error(`anonymous sign-in failed: ${error.message}`);
  }
  return client;
}

/** A test user: a signed-in client, a store and a chat. */
export interface TestUser {
  profile: string;
  client: SupabaseClient;
  store: Store;
  chat: Chat;
  received: ReceivedMessage[];
}

let counter = 0;

/** Returns a profile name unique to this run, so suites can share one database. */
export function uniqueProfile(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Signs in a new user, registers `profile` and collects the messages it receives. */
export async function createUser(prefix: string, options: ChatOptions = {}, store: Store = new MemoryStore()): Promise<TestUser> {
  const client = await signedInClient();
  const chat = new Chat(client, store, options);
  const profile = uniqueProfile(prefix);
  await chat.register(profile);
  const received: ReceivedMessage[] = [];
  chat.on('message', (message) => received.push(message));
  return { profile, client, store, chat, received };
}

/** Stops a user's chat and closes its realtime connection. */
export async function closeUser(user: TestUser): Promise<void> {
  await user.chat.stop();
  await user.client.removeAllChannels();
  user.client.realtime.disconnect();
}

/** Opens a superuser connection to the database. */
export function database(): postgres.Sql {
  return postgres(stack().dbUrl, { max: 2, onnotice: () => undefined });
}

/**
 * Waits until `condition` returns true, polling every 50 ms, or fails after `timeoutMs` with `what`.
 * A function for `what` is called at the timeout, so the message shows the state at that moment.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      const description = typeof what === 'function' ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Restarts the local stack's gateway; returns false against an external stack. */
export async function restartGateway(): Promise<boolean> {
  const controlUrl = stack().controlUrl;
  if (controlUrl === null) {
    return false;
  }
  const response = await fetch(`${controlUrl}/restart-gateway`, { method: 'POST' });
  if (response.status !== 204) {
    throw new Error(`restarting the gateway failed: HTTP ${response.status} ${await response.text()}`);
  }
  return true;
}
