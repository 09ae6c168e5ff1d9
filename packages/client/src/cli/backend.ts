/**
 * Connection of the command-line chat: which backend to use, the supabase-js
 * client with a per-profile session file, and signing in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

/** URL `npm start` serves the local stack on. */
export const LOCAL_STACK_URL = 'http://127.0.0.1:54321';

/** Backend the CLI talks to. */
export interface Backend {
  url: string;
  anonKey: string;
  /** Origin of the settings, named in error messages. */
  source: 'environment' | 'local stack';
}

/** A failure the CLI reports as one clear line and exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/**
 * Picks the backend: `SUPABASE_URL` and `SUPABASE_ANON_KEY` when set, else
 * the local stack with the anon key `npm start` keeps in its data folder.
 */
export function resolveBackend(env: NodeJS.ProcessEnv = process.env): Backend {
  const url = env.SUPABASE_URL;
  const anonKey = env.SUPABASE_ANON_KEY;
  if (url !== undefined && url !== '') {
    if (anonKey === undefined || anonKey === '') {
      throw new CliError('SUPABASE_URL is set but SUPABASE_ANON_KEY is missing: set both, or neither to use the local stack');
    }
    try {
      new URL(url);
    } catch {
      throw new CliError(`SUPABASE_URL ${JSON.stringify(url)} is not a URL: use the project URL, such as https://<project>.supabase.co`);
    }
    return { url: url.replace(/\/+$/, ''), anonKey, source: 'environment' };
  }

  const keysFile = localStackKeysFile(env);
  if (!existsSync(keysFile)) {
    throw new CliError(
      `the local stack is not set up (no ${keysFile}): run "npm start" in another terminal, or set SUPABASE_URL and SUPABASE_ANON_KEY`,
    );
  }
  let stored: { anonKey?: unknown };
  try {
    stored = JSON.parse(readFileSync(keysFile, 'utf8')) as { anonKey?: unknown };
  } catch {
    throw new CliError(`cannot read the anon key from ${keysFile}: restart the local stack with "npm start"`);
  }
  if (typeof stored.anonKey !== 'string') {
    throw new CliError(`${keysFile} has no anon key: restart the local stack with "npm start"`);
  }
  // PARLEY_LOCAL_URL points at a local stack on another port, such as the one of the end-to-end tests.
  return { url: env.PARLEY_LOCAL_URL ?? LOCAL_STACK_URL, anonKey: stored.anonKey, source: 'local stack' };
}

/** Returns the keys file of the local stack's data folder: `PARLEY_STACK_DIR`, or `.local/stack` in the repository. */
export function localStackKeysFile(env: NodeJS.ProcessEnv = process.env): string {
  const dataDir = env.PARLEY_STACK_DIR ?? join(repositoryRoot(), '.local', 'stack');
  return join(dataDir, 'keys.json');
}

function repositoryRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
}

/**
 * supabase-js auth storage in one JSON file, so a profile keeps its user
 * (and its refresh token) across runs. The file is created with mode 0600.
 */
export class FileAuthStorage {
  readonly #path: string;
  #cache: Record<string, string> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  async getItem(key: string): Promise<string | null> {
    return (await this.#load())[key] ?? null;
  }

  async setItem(key: string, value: string): Promise<void> {
    const data = await this.#load();
    data[key] = value;
    await this.#save(data);
  }

  async removeItem(key: string): Promise<void> {
    const data = await this.#load();
    delete data[key];
    await this.#save(data);
  }

  async #load(): Promise<Record<string, string>> {
    if (this.#cache === undefined) {
      try {
        this.#cache = JSON.parse(await readFile(this.#path, 'utf8')) as Record<string, string>;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new CliError(`the session file ${this.#path} is unreadable: delete it to sign in again`);
        }
        this.#cache = {};
      }
    }
    return this.#cache;
  }

  async #save(data: Record<string, string>): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    const temporary = `${this.#path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(data), { mode: 0o600 });
    await rename(temporary, this.#path);
  }
}

/** Creates the supabase-js client of one profile, with its session file and the `ws` transport Node 20 needs. */
export function createBackendClient(backend: Backend, sessionFile: string): SupabaseClient {
  return createClient(backend.url, backend.anonKey, {
    auth: {
      storage: new FileAuthStorage(sessionFile),
      persistSession: true,
      autoRefreshToken: true,
      detectSessionInUrl: false,
      storageKey: 'parley-cli-auth',
    },
    realtime: { transport: WebSocket as never },
  });
}

/** How to sign in when the session file has no session. */
export type SignIn = { method: 'anonymous' } | { method: 'email'; email: string; password: string };

/**
 * Signs in unless the restored session is valid: anonymously, or with email
 * and password (signing up first when the address is new). Returns the user id.
 */
export async function signIn(client: SupabaseClient, how: SignIn, backend: Backend): Promise<string> {
  const restored = await client.auth.getSession().catch((error: unknown) => {
    throw unreachable(backend, error);
  });
  if (restored.data.session !== null) {
    const user = await client.auth.getUser();
    if (user.data.user !== null && (how.method === 'anonymous' || user.data.user.email === how.email)) {
      return user.data.user.id;
    }
    if (user.error !== null && user.error.status === undefined) {
      throw unreachable(backend, user.error);
    }
    await client.auth.signOut({ scope: 'local' }).catch(() => undefined);
  }

  if (how.method === 'anonymous') {
    const { data, error } = await client.auth.signInAnonymously();
    if (error !== null || data.user === null) {
      throw signInError(backend, error, 'anonymous sign-in');
    }
    return data.user.id;
  }

  const signedIn = await client.auth.signInWithPassword({ email: how.email, password: how.password });
  if (signedIn.error === null && signedIn.data.user !== null) {
    return signedIn.data.user.id;
  }
  if (signedIn.error !== null && signedIn.error.status !== 400) {
    throw signInError(backend, signedIn.error, 'email sign-in');
  }

  const signedUp = await client.auth.signUp({ email: how.email, password: how.password });
  if (signedUp.error !== null || signedUp.data.user === null) {
    throw signInError(backend, signedUp.error ?? signedIn.error, 'email sign-in');
  }
  if (signedUp.data.session === null) {
    throw new CliError(`signed up ${how.email}: confirm the address from the email the project sent, then run the command again`);
  }
  return signedUp.data.user.id;
}

function signInError(backend: Backend, error: { message: string; status?: number | undefined } | null, what: string): CliError {
  if (error !== null && (error.status === undefined || error.status === 0)) {
    return unreachable(backend, error);
  }
  return new CliError(`${what} failed: ${error?.message ?? 'no user returned'}${error?.status === undefined ? '' : ` (HTTP ${error.status})`}`);
}

/** Returns the error for a backend that cannot be reached. */
export function unreachable(backend: Backend, cause: unknown): CliError {
  const hint =
    backend.source === 'local stack'
      ? 'the local stack is not running: start it with "npm start" in another terminal'
      : 'check SUPABASE_URL and your network';
  return new CliError(`cannot reach ${backend.url}: ${hint}`, { cause });
}

/** Removes a session file, for `--sign-out`. */
export async function forgetSession(sessionFile: string): Promise<void> {
  await rm(sessionFile, { force: true });
}
