/**
 * Test access to the database and the token issuer that scripts/test-functions.ts
 * starts: users in `auth.users`, access tokens signed with the served JWKS key
 * or the legacy secret, and a superuser connection for setup and inspection.
 */
import postgres from "npm:postgres@3.4.10";
import { importJWK, type JWK, SignJWT } from "npm:jose@6.2.19";

function requireEnv(name: string): string {
  const value = Deno.env.get(name);

  if (value === undefined || value === "") {
    throw new Error(`${name} is not set: run these tests with \`npm run test:functions\``);
  }

  return value;
}

/** Superuser connection for setup and for reading what the functions stored. */
export const admin = postgres(requireEnv("PARLEY_TEST_SUPERUSER_URL"), {
  max: 4,
  prepare: false,
  onnotice: () => {},
});

const signingJwk = JSON.parse(requireEnv("PARLEY_TEST_SIGNING_JWK")) as JWK;
const signingKey = await importJWK(signingJwk, "ES256");

export interface TestUser {
  id: string;
  token: string;
}

/** Signs an access token the way Supabase Auth does, with the JWKS key (ES256). */
export async function signAccessToken(claims: Record<string, unknown>, expiresIn: string | number = "10m") {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: signingJwk.kid!, typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(signingKey);
}

/** Signs an access token with the legacy HS256 secret of the project. */
export async function signLegacyAccessToken(claims: Record<string, unknown>, secret = requireEnv("SUPABASE_JWT_SECRET")) {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(secret));
}

/** Inserts a user into `auth.users` and returns it with a valid access token. */
export async function createUser(): Promise<TestUser> {
  const id = crypto.randomUUID();

  await admin`
    insert into auth.users (id, aud, role, email)
    values (${id}, 'authenticated', 'authenticated', ${`${id}@example.test`})
  `;

  const token = await signAccessToken({
    sub: id,
    role: "authenticated",
    aud: "authenticated",
    session_id: crypto.randomUUID(),
    is_anonymous: false,
  });

  return { id, token };
}

/** Runs SQL as a user, the way PostgREST would, for setup that goes through RLS. */
export async function asUser<Result>(
  user: TestUser,
  work: (sql: postgres.TransactionSql) => Promise<Result>,
): Promise<Result> {
  return await admin.begin(async (sql) => {
    await sql`
      select
        set_config('role', 'authenticated', true),
        set_config('request.jwt.claims', ${JSON.stringify({ sub: user.id, role: "authenticated" })}, true)
    `;
    return await work(sql);
  }) as Result;
}

let profileCounter = 0;

/** Returns a fresh profile name that matches the profile format. */
export function uniqueProfileName(prefix: string): string {
  profileCounter += 1;
  return `${prefix}-${Date.now().toString(36)}-${profileCounter}`;
}
