// Verified claims → who called (the Caller) → upstream headers: the default X-Portcullis-*
// set, then the policy's own `forward.headers`. Values are sanitised: no CR/LF or other control
// characters, anything outside Latin-1 percent-encoded, list claims joined with "," after
// escaping commas.
import type { Caller } from '../model/guard.ts';
import type { AuthPolicy } from '../model/policy.ts';
import { listClaim } from './authorize.ts';
import type { Claims } from './verify.ts';

/** The headers every protected request carries unless `forward.defaultHeaders` is false. */
export const DEFAULT_HEADERS = {
  subject: 'x-portcullis-subject',
  email: 'x-portcullis-email',
  groups: 'x-portcullis-groups',
  clientId: 'x-portcullis-client-id',
} as const;

/**
 * The caller that verified claims describe. A session's client is the policy's own (it signed
 * in through it); a bearer token names its client in `client_id` (Cognito access tokens, RFC
 * 9068), `azp`, or — a Cognito ID token — `aud`.
 */
export function callerOf(claims: Claims, policy: AuthPolicy, auth: Caller['auth']): Caller {
  return {
    auth,
    sub: typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : null,
    email: verifiedEmail(claims),
    groups: listClaim(claims['cognito:groups'] ?? claims.groups),
    clientId: auth === 'session' ? policy.clientID : bearerClient(claims),
    scope: auth === 'bearer' ? grantedScope(claims) : null,
  };
}

/** An email is an identity only once the provider has verified it. */
function verifiedEmail(claims: Claims): string | null {
  if (!(claims.email_verified === true || claims.email_verified === 'true')) return null;
  return typeof claims.email === 'string' && claims.email !== '' ? claims.email : null;
}

function bearerClient(claims: Claims): string | null {
  for (const client of [claims.client_id, claims.azp, claims.token_use === 'id' ? claims.aud : undefined]) {
    if (typeof client === 'string' && client !== '') return client;
  }
  return null;
}

function grantedScope(claims: Claims): string | null {
  if (typeof claims.scope === 'string') return claims.scope;
  if (Array.isArray(claims.scp)) return claims.scp.map(String).join(' ');
  return null;
}

export function identityHeaders(claims: Claims, caller: Caller, policy: AuthPolicy): Record<string, string> {
  const headers: Record<string, string> = {};
  if (policy.forward.defaultHeaders) {
    if (caller.sub !== null) headers[DEFAULT_HEADERS.subject] = sanitize(caller.sub);
    if (caller.email !== null) headers[DEFAULT_HEADERS.email] = sanitize(caller.email);
    if (caller.groups.length > 0) headers[DEFAULT_HEADERS.groups] = joinList(caller.groups);
    if (caller.clientId !== null) headers[DEFAULT_HEADERS.clientId] = sanitize(caller.clientId);
  }
  for (const [header, claim] of policy.forward.headers) {
    if (claim === 'email' && caller.email === null) continue;
    const values = listClaim(claims[claim]);
    if (values.length === 0) continue;
    headers[header] = joinList(values);
  }
  return headers;
}

/** `a,b%2Cc`: each value sanitised, its commas escaped, then joined with ",". */
function joinList(values: readonly string[]): string {
  return values.map((value) => sanitize(value).replaceAll(',', '%2C')).join(',');
}

export function sanitize(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) out += encodeURIComponent(char);
    else if (code === 0x25) out += '%25';
    else if (code > 0xff) out += encodeURIComponent(char);
    else out += char;
  }
  return out;
}
