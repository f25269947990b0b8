// What a verified caller may do: required scopes (all of), groups (any of), claim rules, then the
// policy's CEL rules in order (src/auth/rules.ts). Runs on every request, cached signature or
// not. A rule on `email` holds only for an address the provider has verified: a Cognito pool
// with self sign-up lets anyone claim any address.
import type { AuthPolicy } from '../model/policy.ts';
import type { DecisionTrace } from '../model/trace.ts';
import { AuthError } from './errors.ts';
import { firstRefusal, type RuleSubject } from './rules.ts';
import type { Claims } from './verify.ts';

/**
 * Throws the AuthError of the first check that fails. `subject` is what the CEL rules see of the
 * request (read only when the policy has rules); `trace`, when given, records every check made.
 */
export function authorize(claims: Claims, policy: AuthPolicy, subject: RuleSubject, trace?: DecisionTrace): void {
  authorizeClaims(claims, policy, trace);
  authorizeRules(claims, policy, subject, trace);
}

/** The checks that read the claims alone (scopes, groups, claim rules): the same answer for the same token and policy. */
export function authorizeClaims(claims: Claims, policy: AuthPolicy, trace?: DecisionTrace): void {
  const { requiredScopes, groups, claims: claimRules } = policy.authorization;
  if (requiredScopes.length > 0) {
    // Space-separated, compared whole: "read" is not "reader", "api/read" is not "api/read:all".
    const granted = new Set(grantedScopes(claims));
    const missing = requiredScopes.filter((scope) => !granted.has(scope));
    trace?.record({ check: 'scopes', result: missing.length === 0 ? 'pass' : 'fail', detail: `Needs ${requiredScopes.join(' ')}; granted: ${[...granted].join(' ') || 'none'}.` });
    if (missing.length > 0) throw new AuthError('SCOPE_MISSING', `The token lacks the scope ${missing.join(' ')}.`);
  }
  if (groups.length > 0) {
    const memberOf = listClaim(claims['cognito:groups'] ?? claims.groups);
    const member = groups.some((group) => memberOf.includes(group));
    trace?.record({ check: 'groups', result: member ? 'pass' : 'fail', detail: `Needs one of ${groups.join(', ')}; member of: ${memberOf.join(', ') || 'none'}.` });
    if (!member) throw new AuthError('GROUP_MISSING', 'The caller is in none of the groups this route requires.');
  }
  for (const rule of claimRules) {
    if (rule.claim === 'email' && !emailVerified(claims)) {
      trace?.record({ check: `claim ${rule.claim}`, result: 'fail', detail: 'The email is not verified (email_verified is not true).' });
      throw new AuthError('EMAIL_NOT_VERIFIED', 'The email claim is not verified by the provider (email_verified is not true), so this route cannot rely on it.');
    }
    const values = listClaim(claims[rule.claim]);
    const held = rule.values.some((value) => values.includes(value));
    trace?.record({ check: `claim ${rule.claim}`, result: held ? 'pass' : 'fail', detail: `Needs one of ${rule.values.join(', ')}; has: ${values.join(', ') || 'none'}.` });
    if (!held) throw new AuthError('CLAIM_MISMATCH', `The claim ${rule.claim} has none of the values this route requires.`);
  }
}

/** The policy's CEL rules, which read the request too. */
export function authorizeRules(claims: Claims, policy: AuthPolicy, subject: RuleSubject, trace?: DecisionTrace): void {
  const { rules } = policy.authorization;
  // Only when there are some: the request's variables are built for them alone.
  if (rules !== undefined && rules.length > 0) {
    const refusal = firstRefusal(rules, claims, subject, trace);
    if (refusal !== null) throw new AuthError('RULE_DENIED', refusal.message ?? `The rule ${refusal.name} refused this request.`, { rule: refusal.name });
  }
}

/** The scopes a token grants: `scope` (space-separated, as Cognito and RFC 9068 have it) or `scp` (a list). */
export function grantedScopes(claims: Claims): string[] {
  if (typeof claims.scope === 'string') return claims.scope.split(' ').filter(Boolean);
  if (Array.isArray(claims.scp)) return claims.scp.map(String);
  return [];
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
