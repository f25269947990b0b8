// Bearer token verification with Cognito's semantics, in aws-jwt-verify's order: shape and
// algorithm, issuer, key, signature, time, token use, client. Every failure has a stable code.
import { compactVerify } from 'jose';
import type { AuthPolicy } from '../model/policy.ts';
import { AuthError } from './errors.ts';
import { ASYMMETRIC_ALGORITHMS, type Provider } from './provider.ts';

export type Claims = Readonly<Record<string, unknown>>;

/** Longer bearer tokens are refused before any work is done on them. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

/**
 * Tokens the proxy fetched itself from the token endpoint may be larger: a Cognito user in many
 * long-named groups has an ID token over 8 KiB. Still bounded.
 */
export const MAX_TOKEN_ENDPOINT_TOKEN_LENGTH = 64 * 1024;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

interface Decoded {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Claims;
}

/** Splits and decodes a compact JWS without trusting anything in it yet. */
export function decodeToken(token: string, maxLength = MAX_TOKEN_LENGTH): Decoded {
  if (token.length > maxLength) throw new AuthError('TOKEN_TOO_LARGE', `The token is longer than ${maxLength} characters.`);
  const parts = token.split('.');
  // An empty signature is left for the algorithm check to refuse ("none").
  if (parts.length !== 3 || !BASE64URL.test(parts[0]!) || !BASE64URL.test(parts[1]!) || !(parts[2] === '' || BASE64URL.test(parts[2]!))) {
    throw new AuthError('TOKEN_MALFORMED', 'The token is not a signed JWT (three base64url parts).');
  }
  const header = decodeJSON(parts[0]!, 'header');
  const claims = decodeJSON(parts[1]!, 'payload');
  return { header, claims };
}

function decodeJSON(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AuthError('TOKEN_MALFORMED', `The token's ${what} is not JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AuthError('TOKEN_MALFORMED', `The token's ${what} is not a JSON object.`);
  return value as Record<string, unknown>;
}

/** How much of a token's end keys the signature cache: 32 base64url characters of signature, 192 bits. */
const SIGNATURE_KEY_LENGTH = 32;

/** Verified signatures, per policy: a repeated token costs a lookup, not a signature check. */
export interface SignatureCache {
  get(token: string): Claims | undefined;
  set(token: string, claims: Claims): void;
  clear(): void;
  readonly size: number;
}

export function createSignatureCache(maxEntries: number, now: () => number): SignatureCache {
  // Keyed by the token's last characters (its signature's), not the whole token: a request's token
  // is a new string, and a map hashes all of a new key, 1 KB here, on every request. A hit is still
  // one only for the very same token: the entry keeps it, and it is compared whole.
  const keyOf = (token: string) => token.slice(-SIGNATURE_KEY_LENGTH);
  const entries = new Map<string, { readonly token: string; readonly claims: Claims }>();
  return {
    get(token) {
      const key = keyOf(token);
      const entry = entries.get(key);
      if (entry === undefined || entry.token !== token) return undefined;
      const { claims } = entry;
      // Expired entries go; the caller still checks exp against its skew on every request.
      if (typeof claims.exp === 'number' && claims.exp * 1000 < now() - 24 * 3_600_000) {
        entries.delete(key);
        return undefined;
      }
      return claims;
    },
    set(token, claims) {
      if (maxEntries <= 0) return;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(keyOf(token), { token, claims });
    },
    clear: () => entries.clear(),
    get size() {
      return entries.size;
    },
  };
}

export interface VerifyContext {
  readonly policy: AuthPolicy;
  readonly provider: Provider;
  readonly cache: SignatureCache;
  readonly now: number;
  /** Default MAX_TOKEN_LENGTH. */
  readonly maxLength?: number;
}

/** Verifies a bearer token against the policy; resolves with its claims or throws an AuthError. */
export async function verifyBearerToken(token: string, context: VerifyContext): Promise<Claims> {
  return verifyCachedToken(token, context) ?? verifyNewToken(token, context);
}

/** A token the cache does not hold: steps 1–8; its claims are cached once its signature holds. */
export async function verifyNewToken(token: string, context: VerifyContext): Promise<Claims> {
  return checkClaims(await verifySignature(token, context), context);
}

/**
 * A token verified before under this policy (the cache is per policy and emptied when the
 * provider's keys change) skips steps 1–5: a lookup, not a decode and a signature check, and no
 * promise. Its claims once steps 6–8 pass (they throw an AuthError otherwise); undefined when
 * the token is not in the cache.
 */
export function verifyCachedToken(token: string, context: VerifyContext): Claims | undefined {
  const claims = context.cache.get(token);
  return claims === undefined ? undefined : checkClaims(claims, context);
}

/** Steps 6–8, on every request: time, token use and client. */
function checkClaims(claims: Claims, context: VerifyContext): Claims {
  // 6. Time, with the policy's skew, on every request.
  const { policy } = context;
  const skew = policy.clockSkewMs;
  if (typeof claims.exp !== 'number') throw new AuthError('TOKEN_MALFORMED', 'The token has no exp claim.');
  if (claims.exp * 1000 + skew <= context.now) throw new AuthError('TOKEN_EXPIRED', 'The token has expired.');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf * 1000 - skew > context.now)) {
    throw new AuthError('TOKEN_NOT_YET_VALID', 'The token is not valid yet.');
  }
  // A token issued later than now (beyond the skew) comes from a clock we cannot trust, or was
  // forged with a long life ahead of it. Optional, as RFC 7519 has it; Cognito always sets it.
  if (claims.iat !== undefined) {
    if (typeof claims.iat !== 'number') throw new AuthError('TOKEN_MALFORMED', 'The token has an iat claim that is not a number.');
    if (claims.iat * 1000 - skew > context.now) throw new AuthError('TOKEN_ISSUED_IN_FUTURE', 'The token was issued in the future (iat), beyond the allowed clock skew.');
  }

  // 7–8. What kind of token, and for whom.
  checkAudience(claims, policy);
  return claims;
}

/** Steps 1–5: shape, algorithm, issuer, key and signature; the verified claims are cached. */
async function verifySignature(token: string, context: VerifyContext): Promise<Claims> {
  const { policy, provider } = context;
  const { header, claims } = decodeToken(token, context.maxLength);

  // 1. The algorithm: one the provider signs with, asymmetric, never "none" or HMAC.
  const alg = header.alg;
  if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.has(alg) || !provider.allowedAlgorithms().has(alg)) {
    throw new AuthError('TOKEN_ALG_NOT_ALLOWED', `The algorithm ${JSON.stringify(alg ?? null)} is not accepted.`);
  }
  // 2. The issuer, exactly: before any key is looked up, so foreign tokens cost no fetch.
  if (claims.iss !== policy.issuer) throw new AuthError('TOKEN_ISSUER_MISMATCH', 'The token was issued by another issuer.');

  // 3–5. Key and signature.
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const key = await provider.key(kid);
  if (key === null) throw new AuthError('TOKEN_KID_UNKNOWN', 'The token is signed with a key the provider does not publish.');
  if ((key.use !== undefined && key.use !== 'sig') || (key.alg !== undefined && key.alg !== alg)) {
    throw new AuthError('TOKEN_KEY_UNUSABLE', 'The provider does not publish that key for this algorithm.');
  }
  try {
    await compactVerify(token, key.key, { algorithms: [alg] });
  } catch (error) {
    throw new AuthError('TOKEN_SIGNATURE_INVALID', 'The token signature is not valid.', { cause: error });
  }
  context.cache.set(token, claims);
  return claims;
}

function checkAudience(claims: Claims, policy: AuthPolicy): void {
  const bearer = policy.bearer!;
  const tokenUse = claims.token_use;
  if (policy.provider === 'Cognito') {
    if (tokenUse !== 'access' && tokenUse !== 'id') throw new AuthError('TOKEN_USE_MISMATCH', 'The token has no Cognito token_use.');
    if (bearer.tokenUse !== 'any' && tokenUse !== bearer.tokenUse) throw new AuthError('TOKEN_USE_MISMATCH', `An ${tokenUse} token is not accepted here; this route takes ${bearer.tokenUse} tokens.`);
    // Cognito access tokens carry no aud: the client is client_id. ID tokens name it in aud.
    const client = tokenUse === 'access' ? claims.client_id : claims.aud;
    if (typeof client !== 'string' || !bearer.allowedClientIDs.includes(client)) throw new AuthError('TOKEN_CLIENT_NOT_ALLOWED', 'The token was issued to a client that is not allowed here.');
    return;
  }
  if (tokenUse !== undefined && bearer.tokenUse !== 'any' && tokenUse !== bearer.tokenUse) {
    throw new AuthError('TOKEN_USE_MISMATCH', `An ${String(tokenUse)} token is not accepted here.`);
  }
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!audiences.some((aud) => typeof aud === 'string' && bearer.audiences.includes(aud))) throw new AuthError('TOKEN_AUDIENCE_MISMATCH', 'The token is not meant for this audience.');
}
