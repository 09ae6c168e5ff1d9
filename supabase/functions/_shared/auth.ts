/**
 * Verification of the caller's Supabase access token.
 *
 * Asymmetric tokens (ES256, RS256, EdDSA) are verified against the project's
 * JSON Web Key Set: `SUPABASE_JWKS` when the platform provides it, otherwise
 * `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`. HS256 tokens of legacy
 * projects are verified with `SUPABASE_JWT_SECRET`. Hosted projects use
 * `PARLEY_JWT_SECRET` instead, because `supabase secrets set` rejects names
 * that start with `SUPABASE_`. Without either, HS256 tokens are rejected. Whether the verified caller may do anything is decided by
 * PostgreSQL (grants and RLS), not here.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "npm:jose@6.2.19";

import { ApiError } from "./errors.ts";

/** Algorithms Supabase Auth signs access tokens with when JWT signing keys are in use. */
const ASYMMETRIC_ALGORITHMS = ["ES256", "RS256", "EdDSA"];

/** Database roles a token may name; the SQL runs as this role. */
const DATABASE_ROLES = new Set(["anon", "authenticated", "service_role"]);

/** A verified caller: the user id (`sub`), the database role and every claim for `request.jwt.claims`. */
export interface Caller {
  userId: string;
  role: string;
  claims: JWTPayload;
}

export interface AuthConfig {
  /** The project URL, whose JWKS endpoint is fetched when `jwks` is absent. */
  supabaseUrl?: string | undefined;
  /** A JSON Web Key Set as JSON text (`SUPABASE_JWKS`), used instead of fetching. */
  jwks?: string | undefined;
  /** The legacy HS256 secret (`SUPABASE_JWT_SECRET` or `PARLEY_JWT_SECRET`). */
  jwtSecret?: string | undefined;
}

/** Reads the authentication settings from the environment the platform provides. */
export function readAuthConfig(): AuthConfig {
  return {
    supabaseUrl: Deno.env.get("SUPABASE_URL") || undefined,
    jwks: Deno.env.get("SUPABASE_JWKS") || undefined,
    jwtSecret: Deno.env.get("SUPABASE_JWT_SECRET") || Deno.env.get("PARLEY_JWT_SECRET") || undefined,
  };
}

function parseJwks(text: string): JSONWebKeySet {
  const parsed: unknown = JSON.parse(text);

  // The platform provides either a key set object or a bare array of keys.
  if (Array.isArray(parsed)) {
    return { keys: parsed };
  }

  return parsed as JSONWebKeySet;
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, "invalid_token", message, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
}

/** Verifies bearer tokens with one project's keys. */
export class Authenticator {
  readonly #config: AuthConfig;
  #keySet: JWTVerifyGetKey | undefined;

  constructor(config: AuthConfig) {
    this.#config = config;
  }

  #asymmetricKeySet(): JWTVerifyGetKey {
    if (this.#keySet !== undefined) {
      return this.#keySet;
    }

    if (this.#config.jwks !== undefined) {
      this.#keySet = createLocalJWKSet(parseJwks(this.#config.jwks));
    } else if (this.#config.supabaseUrl !== undefined) {
      const url = new URL("auth/v1/.well-known/jwks.json", this.#config.supabaseUrl.replace(/\/*$/, "/"));
      this.#keySet = createRemoteJWKSet(url);
    } else {
      throw new Error("SUPABASE_URL is not set, so there is no JWKS to verify access tokens with");
    }

    return this.#keySet;
  }

  /**
   * Verifies the `Authorization: Bearer <token>` header. Throws 401 for a
   * missing, malformed, forged or expired token and for a token without a
   * user (`sub`), and 503 when the key set cannot be fetched.
   */
  async authenticate(authorization: string | null): Promise<Caller> {
    if (authorization === null || authorization.trim() === "") {
      throw new ApiError(
        401,
        "missing_token",
        "Authorization header missing: send 'Authorization: Bearer <access token>' of a signed-in user",
        { "WWW-Authenticate": "Bearer" },
      );
    }

    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) {
      throw unauthorized("Authorization header malformed: expected 'Bearer <access token>'");
    }

    const payload = await this.#verify(match[1]!);
    return this.#toCaller(payload);
  }

  async #verify(token: string): Promise<JWTPayload> {
    let algorithm: string | undefined;
    try {
      algorithm = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("access token malformed: expected a JWT");
    }

    try {
      if (algorithm === "HS256") {
        if (this.#config.jwtSecret === undefined) {
          throw unauthorized("access token signed with HS256, which this project does not accept");
        }

        const secret = new TextEncoder().encode(this.#config.jwtSecret);
        const { payload } = await jwtVerify(token, secret, {
          algorithms: ["HS256"],
          requiredClaims: ["exp"],
        });
        return payload;
      }

      const { payload } = await jwtVerify(token, this.#asymmetricKeySet(), {
        algorithms: ASYMMETRIC_ALGORITHMS,
        requiredClaims: ["exp"],
      });
      return payload;
    } catch (error) {
      throw this.#toApiError(error);
    }
  }

  #toApiError(error: unknown): ApiError {
    if (error instanceof ApiError) {
      return error;
    }

    if (error instanceof joseErrors.JWTExpired) {
      return unauthorized("access token expired: refresh the session and retry");
    }

    if (error instanceof joseErrors.JWKSTimeout || error instanceof TypeError) {
      // TypeError is what fetch throws when the JWKS endpoint is unreachable.
      return new ApiError(503, "auth_unavailable", "the project's signing keys could not be fetched; retry later");
    }

    if (error instanceof joseErrors.JOSEError) {
      return unauthorized("access token invalid: its signature or claims do not verify; sign in again");
    }

    throw error;
  }

  #toCaller(payload: JWTPayload): Caller {
    const role = payload["role"];

    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw unauthorized("access token has no user (sub claim): send a signed-in user's access token, not an API key");
    }

    if (typeof role !== "string" || !DATABASE_ROLES.has(role)) {
      throw unauthorized("access token names no known database role (role claim)");
    }

    return { userId: payload.sub, role, claims: payload };
  }
}
