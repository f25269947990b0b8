// The policy's CEL rules at request time. The rules were parsed, type-checked and planned when
// the table was built (src/compile/rules.ts); here the variables they see are made (each one
// once per request, and only when a rule reads it) and the rules run in order. A rule that
// does not evaluate to true refuses, and so does one that cannot be evaluated (a missing claim,
// a value of another type): an error is never an allow.
import { celList, celMap, type CelInput } from '@bufbuild/cel';
import type { GuardContext, GuardRequest } from '../model/guard.ts';
import type { AuthorizationRule, RuleVariables } from '../model/policy.ts';
import type { DecisionTrace } from '../model/trace.ts';
import { emailVerified, grantedScopes, listClaim } from './authorize.ts';
import type { AuthError } from './errors.ts';
import type { Claims } from './verify.ts';

/** What the rules see of a request besides its claims. */
export interface RuleSubject {
  readonly kind: 'bearer' | 'session';
  /** Its headers have had the client's identity headers removed already. */
  readonly request: GuardRequest;
  readonly context: GuardContext;
}

/** The first rule that does not hold, or null when all do. */
export function firstRefusal(rules: readonly AuthorizationRule[], claims: Claims, subject: RuleSubject, trace?: DecisionTrace): AuthorizationRule | null {
  const variables = ruleVariables(claims, subject);
  for (const rule of rules) {
    const value = rule.evaluate(variables);
    if (value === true) {
      trace?.record({ check: `rule ${rule.name}`, result: 'pass', detail: 'true' });
      continue;
    }
    trace?.record(value === false ? { check: `rule ${rule.name}`, result: 'fail', detail: 'false' } : { check: `rule ${rule.name}`, result: 'error', detail: `${value.error.replace(/\.?$/, '.')} An error counts as false.` });
    return rule;
  }
  return null;
}

/** `claims`, `request` and `auth`, each made when a rule first reads it (docs/rules.md describes them). */
export function ruleVariables(claims: Claims, subject: RuleSubject): RuleVariables {
  let claimsValue: unknown;
  let requestValue: unknown;
  let authValue: unknown;
  return {
    get claims() {
      return (claimsValue ??= celMap(new Map(Object.entries(claims) as [string, CelInput][])));
    },
    get request() {
      return (requestValue ??= celMap(new Map<string, CelInput>([
        ['method', subject.request.method],
        ['host', subject.context.hostname],
        ['path', subject.context.path],
        ['query', celMap(firstQueryValues(subject.context.query))],
        ['headers', celMap(firstHeaderValues(subject.request.headers))],
      ])));
    },
    get auth() {
      return (authValue ??= celMap(new Map<string, CelInput>([
        ['kind', subject.kind],
        ['scopes', celList(grantedScopes(claims))],
        ['groups', celList(listClaim(claims['cognito:groups'] ?? claims.groups))],
        ['emailVerified', emailVerified(claims)],
      ])));
    },
  };
}

/** Each query parameter's first value, decoded. */
function firstQueryValues(query: string): Map<string, string> {
  const values = new Map<string, string>();
  if (query === '') return values;
  for (const [name, value] of new URLSearchParams(query)) if (!values.has(name)) values.set(name, value);
  return values;
}

/** Each header's first value, by lower-case name. */
function firstHeaderValues(headers: GuardRequest['headers']): Map<string, string> {
  const values = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) values.set(name, first);
  }
  return values;
}

/**
 * The access log's reason for a refusal: its code, or for a rule `rule:<name>` (the pipeline logs
 * the answer's code, RULE_DENIED, as the reason, and this as the cause).
 */
export function deniedReason(error: AuthError): string {
  return error.rule === undefined ? error.code : `rule:${error.rule}`;
}
