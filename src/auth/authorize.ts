// What a verified caller may do: required scopes (all of), groups (any of), claim rules. Runs on
// every request, cached signature or not. A rule on `email` holds only for an address the
// provider has verified: a Cognito pool with self sign-up lets anyone claim any address.
import type { AuthPolicy } from '../model/policy.ts';
import { AuthError } from './errors.ts';
import type { Claims } from './verify.ts';

export function authorize(claims: Claims, policy: AuthPolicy): void {
  const { requiredScopes, groups, claims: rules } = policy.authorization;
  if (requiredScopes.length > 0) {
    // Space-separated, compared whole: "read" is not "reader", "api/read" is not "api/read:all".
    const granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : Array.isArray(claims.scp) ? claims.scp.map(String) : []);
    const missing = requiredScopes.filter((scope) => !granted.has(scope));
    if (missing.length > 0) throw new AuthError('SCOPE_MISSING', `The token lacks the scope ${missing.join(' ')}.`);
  }
  if (groups.length > 0) {
    const memberOf = listClaim(claims['cognito:groups'] ?? claims.groups);
    if (!groups.some((group) => memberOf.includes(group))) throw new AuthError('GROUP_MISSING', 'The caller is in none of the groups this route requires.');
  }
  for (const rule of rules) {
    if (rule.claim === 'email' && !emailVerified(claims)) throw new AuthError('EMAIL_NOT_VERIFIED', 'The email claim is not verified by the provider (email_verified is not true), so this route cannot rely on it.');
    const values = listClaim(claims[rule.claim]);
    if (!rule.values.some((value) => values.includes(value))) throw new AuthError('CLAIM_MISMATCH', `The claim ${rule.claim} has none of the values this route requires.`);
  }
}

/** Whether the provider vouches for `email`: `email_verified` true, or the string "true" (as Cognito sometimes sends it). */
export function emailVerified(claims: Claims): boolean {
  return claims.email_verified === true || claims.email_verified === 'true';
}

/** A claim as a list of strings: arrays as they are, scalars as one element. */
export function listClaim(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  return [typeof value === 'string' ? value : JSON.stringify(value)];
}
