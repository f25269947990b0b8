// Tokens from the token endpoint, checked with the same verifier as bearer tokens (src/auth/
// verify.ts: the provider's keys, algorithm, issuer, signature, exp with the policy's skew, token
// use and client), given the expectations of an ID token: `aud` is our client ID. openid-client
// compares the ID token's claims on its own as well (it always does); the signature is checked
// here only, against the keys the provider runtime keeps, not a second JWKS cache.
import type { AuthPolicy, BearerSettings } from '../../model/policy.ts';
import { AuthError } from '../errors.ts';
import type { Provider } from '../provider.ts';
import { createSignatureCache, MAX_TOKEN_ENDPOINT_TOKEN_LENGTH, verifyBearerToken, type Claims } from '../verify.ts';
import { jwtPayload, type Session } from './codec.ts';

const NO_CACHE = createSignatureCache(0, Date.now);

function expecting(policy: AuthPolicy, tokenUse: BearerSettings['tokenUse']): AuthPolicy {
  const bearer: BearerSettings = { tokenUse, allowedClientIDs: [policy.clientID], audiences: [policy.clientID] };
  return { ...policy, bearer };
}

/** The ID token's claims, verified; `nonce` must match when given (the code exchange). */
export async function verifyIdToken(idToken: string, policy: AuthPolicy, provider: Provider, now: number, nonce: string | null): Promise<Claims> {
  const claims = await verifyBearerToken(idToken, { policy: expecting(policy, 'id'), provider, cache: NO_CACHE, now, maxLength: MAX_TOKEN_ENDPOINT_TOKEN_LENGTH });
  if (nonce !== null && claims.nonce !== nonce) throw new AuthError('TOKEN_MALFORMED', 'The ID token does not carry the nonce of this sign-in.');
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new AuthError('TOKEN_MALFORMED', 'The ID token has no subject.');
  return claims;
}

/**
 * A Cognito access token is a JWT of the same pool: verified like a bearer access token, so its
 * claims (username, scope, client_id) can stand beside the ID token's for the upstream. Other
 * providers' access tokens may be opaque, or meant for another audience: they are passed on, not read.
 */
export async function verifyAccessToken(accessToken: string, policy: AuthPolicy, provider: Provider, now: number): Promise<void> {
  if (policy.provider !== 'Cognito') return;
  await verifyBearerToken(accessToken, { policy: expecting(policy, 'access'), provider, cache: NO_CACHE, now, maxLength: MAX_TOKEN_ENDPOINT_TOKEN_LENGTH });
}

/**
 * What the upstream and the policy's rules see of a session: the ID token's claims; for Cognito,
 * over the access token's (verified before sealing), so `username` and `scope` map as for bearer
 * tokens; elsewhere the granted scope.
 */
export function sessionClaims(session: Session, policy: AuthPolicy): Claims {
  const id = jwtPayload(session.idToken) ?? {};
  const access = policy.provider === 'Cognito' ? (jwtPayload(session.accessToken) ?? {}) : {};
  const claims: Record<string, unknown> = { ...access, ...id };
  if (session.scope !== null) claims.scope = session.scope;
  return claims;
}

/** When the access token stops being good to forward, in seconds. */
export function accessExpiry(accessToken: string, expiresIn: number | undefined, nowSeconds: number, idTokenClaims: Claims): number {
  if (typeof expiresIn === 'number' && expiresIn > 0) return nowSeconds + expiresIn;
  const exp = jwtPayload(accessToken)?.exp ?? idTokenClaims.exp;
  return typeof exp === 'number' ? exp : nowSeconds + 300;
}

/** The scope granted: the token response's, else the access token's `scope`, else what was there. */
export function grantedScope(scope: string | undefined, accessToken: string, previous: string | null): string | null {
  if (typeof scope === 'string' && scope !== '') return scope;
  const claim = jwtPayload(accessToken)?.scope;
  return typeof claim === 'string' ? claim : previous;
}
