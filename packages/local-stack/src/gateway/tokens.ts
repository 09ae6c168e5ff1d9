import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { SIGNING_ALGORITHM, type SigningKeys } from '../keys.ts';

/** Claims of a verified token; `role` is always a non-empty string. */
export type Claims = JWTPayload & { role: string; [claim: string]: unknown };

export type VerifyResult = { ok: true; claims: Claims } | { ok: false; reason: 'expired' | 'invalid'; message: string };

/** Upper bound on cached verifications, so a flood of distinct tokens cannot grow memory without limit. */
const MAX_CACHED_TOKENS = 10_000;

/** Largest token the gateway looks at; Supabase tokens are well under 2 KiB. */
const MAX_TOKEN_LENGTH = 8_192;

/**
 * Verifies ES256 tokens signed by the stack's key. Successful verifications are cached until the
 * token expires, because an ECDSA verification costs more than the rest of a small REST request.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, Claims>();

  constructor(private readonly keys: SigningKeys) {}

  async verify(token: string): Promise<VerifyResult> {
    const now = Math.floor(Date.now() / 1000);
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (cached.exp === undefined || cached.exp > now) return { ok: true, claims: cached };
      this.cache.delete(token);
      return { ok: false, reason: 'expired', message: 'JWT expired' };
    }

    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return { ok: false, reason: 'invalid', message: 'JWT is missing or too long' };
    }

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys.publicKey, { algorithms: [SIGNING_ALGORITHM] }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired', message: 'JWT expired' };
      return { ok: false, reason: 'invalid', message: describeJwtError(error) };
    }

    if (typeof payload.role !== 'string' || payload.role === '') {
      return { ok: false, reason: 'invalid', message: 'JWT has no "role" claim' };
    }

    const claims = payload as Claims;
    if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.clear();
    this.cache.set(token, claims);
    return { ok: true, claims };
  }

  /** Signs a token with the stack's key; the caller supplies every claim except `iat`. */
  async sign(claims: Record<string, unknown>, expiresAt: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: this.keys.kid, typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(this.keys.privateKey);
  }
}

function describeJwtError(error: unknown): string {
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'JWT signature is invalid';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'JWT algorithm is not ES256';
  if (error instanceof errors.JWTClaimValidationFailed) return `JWT claim "${error.claim}" is invalid`;
  return 'JWT is malformed';
}

/** Extracts the token from an `Authorization: Bearer <token>` header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
