import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

/** Algorithm of every token the stack signs: ECDSA P-256 with SHA-256, as Supabase's asymmetric keys. */
export const SIGNING_ALGORITHM = 'ES256';

/** Lifetime of the anon and service_role API keys: ten years, like the keys `supabase start` prints. */
const API_KEY_LIFETIME_SECONDS = 10 * 365 * 24 * 60 * 60;

/** Issuer of the API keys, as in the keys of hosted projects. */
export const API_KEY_ISSUER = 'supabase';

/** Contents of the key file in the data folder. */
export interface StoredKeys {
  version: 1;
  privateJwk: JWK;
  anonKey: string;
  serviceRoleKey: string;
}

/** Signing material the gateway works with. */
export interface SigningKeys {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  anonKey: string;
  serviceRoleKey: string;
}

/**
 * Loads the signing key and API keys from `path`, or generates and stores them on first start.
 * The file is written with mode 0600 because it contains the private key.
 */
export async function loadOrCreateKeys(path: string): Promise<{ keys: SigningKeys; created: boolean }> {
  let stored: StoredKeys | undefined;
  try {
    stored = parseStoredKeys(JSON.parse(await readFile(path, 'utf8')), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  if (stored !== undefined) return { keys: await importKeys(stored), created: false };

  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: SIGNING_ALGORITHM };
  const key = await importJWK(privateJwk, SIGNING_ALGORITHM);
  const anonKey = await signApiKey(key as CryptoKey, privateJwk.kid, 'anon');
  const serviceRoleKey = await signApiKey(key as CryptoKey, privateJwk.kid, 'service_role');
  const created: StoredKeys = { version: 1, privateJwk, anonKey, serviceRoleKey };

  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(created, null, 2), { mode: 0o600 });
  await rename(temporary, path);
  return { keys: await importKeys(created), created: true };
}

/** Rebuilds the key objects from a stored key file or from the serialized form sent to the gateway process. */
export async function importKeys(stored: StoredKeys): Promise<SigningKeys> {
  const kid = stored.privateJwk.kid;
  if (typeof kid !== 'string') throw new Error('signing key has no "kid"; delete the key file to generate a new one');
  const { d: _d, ...publicJwk } = stored.privateJwk;
  const privateKey = (await importJWK(stored.privateJwk, SIGNING_ALGORITHM)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey;
  return {
    kid,
    privateJwk: stored.privateJwk,
    publicJwk: { ...publicJwk, use: 'sig', key_ops: ['verify'] },
    privateKey,
    publicKey,
    anonKey: stored.anonKey,
    serviceRoleKey: stored.serviceRoleKey,
  };
}

function parseStoredKeys(value: unknown, path: string): StoredKeys {
  const record = value as Partial<StoredKeys> | null;
  if (
    record === null ||
    typeof record !== 'object' ||
    record.version !== 1 ||
    typeof record.privateJwk !== 'object' ||
    typeof record.anonKey !== 'string' ||
    typeof record.serviceRoleKey !== 'string'
  ) {
    throw new Error(`key file ${path} is invalid; delete it to generate new keys (issued tokens stop working)`);
  }
  return record as StoredKeys;
}

async function signApiKey(key: CryptoKey, kid: string, role: 'anon' | 'service_role'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: 'JWT' })
    .setIssuer(API_KEY_ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + API_KEY_LIFETIME_SECONDS)
    .sign(key);
}
