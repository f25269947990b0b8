// X-Portcullis-Assertion: who called, signed, so that an upstream can believe it without
// believing the network. A compact JWS (ES256, with kid) of
//
//   iss  --assertion-issuer (default portcullis)      aud  the request's host (lower case, no port)
//   sub  the caller (for machine tokens, the client)  iat, exp  now, and at most 60 s later
//   email  only when verified    groups  always a list    client_id, scope (bearer only)
//   auth  session | bearer       policy, route  namespace/name
//
// Signing is on the hot path, so it is cheap: the header is encoded once per key, node:crypto
// signs (P1363 r||s, as JWS wants, not DER), and a signed assertion is reused for the same
// caller, audience, policy and route while at least half of its lifetime remains — a repeated
// bearer token costs a map lookup here, as it does in the signature cache.
import { sign } from 'node:crypto';
import type { Caller } from '../../model/guard.ts';
import type { AssertionKey, AssertionKeySet } from './keys.ts';

/** Seconds from `iat` to `exp`. */
export const ASSERTION_LIFETIME_S = 60;
/** A cached assertion is reused while it has at least this many seconds left. */
export const ASSERTION_REUSE_MIN_S = 30;

export const ASSERTION_HEADER = 'x-portcullis-assertion';
/** Where the proxy listener serves the public keys, on every host. */
export const ASSERTION_JWKS_PATH = '/.well-known/portcullis/jwks.json';

export interface AssertionRequest {
  readonly caller: Caller;
  /** The request's host, normalised. */
  readonly audience: string;
  /** `namespace/name` of the OIDCPolicy. */
  readonly policy: string;
  /** `namespace/name` of the Route. */
  readonly route: string;
  /**
   * The caller's fields as one string, when the caller worked it out once for many requests
   * (a bearer token's grant); otherwise the signer makes it from `caller` on every call.
   */
  readonly callerKey?: string | undefined;
}

export interface AssertionSigner {
  /** The compact JWS for this request, or null while no key is loaded. */
  sign(request: AssertionRequest): string | null;
}

export interface AssertionSignerOptions {
  readonly issuer: string;
  readonly keys: AssertionKeySet;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Signed assertions kept for reuse; default 10 000. */
  readonly cacheSize?: number;
}

interface Signed {
  readonly jws: string;
  readonly exp: number;
  readonly key: AssertionKey;
}

export function createAssertionSigner(options: AssertionSignerOptions): AssertionSigner {
  const { issuer, keys, now } = options;
  const maxEntries = options.cacheSize ?? 10_000;
  const cache = new Map<string, Signed>();
  /** `base64url(header).` per key: the header never changes for a key. */
  const headers = new WeakMap<AssertionKey, string>();

  function encodedHeader(key: AssertionKey): string {
    let header = headers.get(key);
    if (header === undefined) {
      header = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: key.kid })).toString('base64url')}.`;
      headers.set(key, header);
    }
    return header;
  }

  return {
    sign({ caller, audience, policy, route, callerKey }) {
      const key = keys.signing();
      if (key === null) return null;
      const seconds = Math.floor(now() / 1000);
      const id = `${audience}\n${policy}\n${route}\n${callerKey ?? assertionCallerKey(caller)}`;
      const cached = cache.get(id);
      // The key is part of the bargain: after a rotation, the new key signs from the next request on.
      if (cached !== undefined && cached.key === key && cached.exp - seconds >= ASSERTION_REUSE_MIN_S) return cached.jws;

      const exp = seconds + ASSERTION_LIFETIME_S;
      const claims: Record<string, unknown> = { iss: issuer, aud: audience };
      if (caller.sub !== null) claims.sub = caller.sub;
      claims.iat = seconds;
      claims.exp = exp;
      if (caller.email !== null) claims.email = caller.email;
      claims.groups = caller.groups;
      if (caller.clientId !== null) claims.client_id = caller.clientId;
      if (caller.scope !== null) claims.scope = caller.scope;
      claims.auth = caller.auth;
      claims.policy = policy;
      claims.route = route;
      const input = `${encodedHeader(key)}${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      const signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
      const jws = `${input}.${signature.toString('base64url')}`;

      if (maxEntries > 0) {
        cache.delete(id);
        if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
        cache.set(id, { jws, exp, key });
      }
      return jws;
    },
  };
}

/** What an assertion says of its caller, as one string: assertions are reused per caller, audience, policy and route. */
export function assertionCallerKey(caller: Caller): string {
  return JSON.stringify([caller.auth, caller.sub, caller.email, caller.groups, caller.clientId, caller.scope]);
}
