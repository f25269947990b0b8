// The policy's CEL rules at request time. The rules were parsed, type-checked and planned when
// the table was built (src/compile/rules.ts); here the variables they see are made (each one
// once per request, and only when a rule reads it) and the rules run in order. A rule that
// does not evaluate to true refuses, and so does one that cannot be evaluated (a missing claim,
// a value of another type): an error is never an allow.
import { celList, celMap, type CelInput, type CelMap } from '@bufbuild/cel';
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
  return new LazyVariables(claims, subject);
}

/**
 * A class, not an object literal with getters: a request allocates one small object, not three
 * closures. Nothing is copied: each variable is a view that reads the claims, the request's
 * headers or its query when a rule asks for a key.
 */
class LazyVariables implements RuleVariables {
  readonly #claims: Claims;
  readonly #subject: RuleSubject;
  #claimsValue: unknown = undefined;
  #requestValue: unknown = undefined;
  #authValue: unknown = undefined;

  constructor(claims: Claims, subject: RuleSubject) {
    this.#claims = claims;
    this.#subject = subject;
  }

  get claims(): unknown {
    return (this.#claimsValue ??= celMap(new ClaimsView(this.#claims)));
  }

  get request(): unknown {
    const { request, context } = this.#subject;
    return (this.#requestValue ??= celMap(
      new FieldsView(['method', 'host', 'path', 'query', 'headers'], (name) => {
        switch (name) {
          case 'method':
            return request.method;
          case 'host':
            return context.hostname;
          case 'path':
            return context.path;
          case 'query':
            return celMap(firstQueryValues(context.query));
          default:
            return celMap(new HeadersView(request.headers));
        }
      }),
    ));
  }

  // @bufbuild/cel resolves `request.method` by first asking for a variable named "request.method",
  // then looking for a type of that name, then taking `request`'s field: answering the qualified
  // names here, with the field's own value, spares the type look-ups on every read.
  get 'request.method'(): unknown {
    return this.#subject.request.method;
  }
  get 'request.host'(): unknown {
    return this.#subject.context.hostname;
  }
  get 'request.path'(): unknown {
    return this.#subject.context.path;
  }
  get 'request.query'(): unknown {
    return (this.request as CelMap).get('query');
  }
  get 'request.headers'(): unknown {
    return (this.request as CelMap).get('headers');
  }
  get 'auth.kind'(): unknown {
    return this.#subject.kind;
  }
  get 'auth.scopes'(): unknown {
    return (this.auth as CelMap).get('scopes');
  }
  get 'auth.groups'(): unknown {
    return (this.auth as CelMap).get('groups');
  }
  get 'auth.emailVerified'(): unknown {
    return (this.auth as CelMap).get('emailVerified');
  }

  get auth(): unknown {
    const claims = this.#claims;
    return (this.#authValue ??= celMap(
      new FieldsView(['kind', 'scopes', 'groups', 'emailVerified'], (name) => {
        switch (name) {
          case 'kind':
            return this.#subject.kind;
          case 'scopes':
            return celList(grantedScopes(claims));
          case 'groups':
            return celList(listClaim(claims['cognito:groups'] ?? claims.groups));
          default:
            return emailVerified(claims);
        }
      }),
    ));
  }
}

/** What @bufbuild/cel's celMap reads of a map, answered from `get` and the keys. */
abstract class MapView implements ReadonlyMap<string, CelInput> {
  abstract get(key: string): CelInput | undefined;
  protected abstract names(): string[];

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }
  get size(): number {
    return this.names().length;
  }
  keys(): MapIterator<string> {
    return this.names()[Symbol.iterator]();
  }
  *entries(): MapIterator<[string, CelInput]> {
    for (const name of this.names()) yield [name, this.get(name)!];
  }
  *values(): MapIterator<CelInput> {
    for (const name of this.names()) yield this.get(name)!;
  }
  forEach(callback: (value: CelInput, key: string, map: ReadonlyMap<string, CelInput>) => void): void {
    for (const name of this.names()) callback(this.get(name)!, name, this);
  }
  [Symbol.iterator](): MapIterator<[string, CelInput]> {
    return this.entries();
  }
}

/** The claims as a map, without a copy. */
class ClaimsView extends MapView {
  readonly #claims: Claims;
  constructor(claims: Claims) {
    super();
    this.#claims = claims;
  }
  get(key: string): CelInput | undefined {
    return Object.hasOwn(this.#claims, key) ? (this.#claims[key] as CelInput | undefined) : undefined;
  }
  protected names(): string[] {
    return Object.keys(this.#claims).filter((name) => this.#claims[name] !== undefined);
  }
}

/** The request's headers as a map of first values, without a copy. */
class HeadersView extends MapView {
  readonly #headers: GuardRequest['headers'];
  constructor(headers: GuardRequest['headers']) {
    super();
    this.#headers = headers;
  }
  get(key: string): CelInput | undefined {
    if (!Object.hasOwn(this.#headers, key)) return undefined;
    const value = this.#headers[key];
    return Array.isArray(value) ? value[0] : value;
  }
  protected names(): string[] {
    return Object.keys(this.#headers).filter((name) => this.get(name) !== undefined);
  }
}

/** A fixed set of fields, each computed on first read. */
class FieldsView extends MapView {
  readonly #fields: readonly string[];
  readonly #compute: (name: string) => CelInput;
  readonly #values = new Map<string, CelInput>();
  constructor(fields: readonly string[], compute: (name: string) => CelInput) {
    super();
    this.#fields = fields;
    this.#compute = compute;
  }
  get(key: string): CelInput | undefined {
    if (!this.#fields.includes(key)) return undefined;
    let value = this.#values.get(key);
    if (value === undefined) this.#values.set(key, (value = this.#compute(key)));
    return value;
  }
  protected names(): string[] {
    return [...this.#fields];
  }
}

/** Each query parameter's first value, decoded. */
function firstQueryValues(query: string): Map<string, string> {
  const values = new Map<string, string>();
  if (query === '') return values;
  for (const [name, value] of new URLSearchParams(query)) if (!values.has(name)) values.set(name, value);
  return values;
}

/**
 * The access log's reason for a refusal: its code, or for a rule `rule:<name>` (the pipeline logs
 * the answer's code, RULE_DENIED, as the reason, and this as the cause).
 */
export function deniedReason(error: AuthError): string {
  return error.rule === undefined ? error.code : `rule:${error.rule}`;
}
