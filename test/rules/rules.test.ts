// The CEL rules on their own: compiled as compile() does (parse, type check, plan), then
// evaluated as the guard does, against the variables a request makes.
import { firstRefusal, ruleVariables, type RuleSubject } from '../../src/auth/rules.ts';
import { compileRules } from '../../src/compile/rules.ts';
import type { AuthorizationRule } from '../../src/model/policy.ts';
import type { TraceStep } from '../../src/model/trace.ts';

function compileOne(cel: string): AuthorizationRule {
  const errors: string[] = [];
  const [rule] = compileRules([{ name: 'r', cel }], (field, message) => errors.push(`${field}: ${message}`));
  if (rule === undefined) throw new Error(errors.join(' '));
  return rule;
}

function compileError(cel: string): string {
  const errors: string[] = [];
  compileRules([{ name: 'r', cel }], (field, message) => errors.push(`${field}: ${message}`));
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

function subject(options: { kind?: 'bearer' | 'session'; method?: string; host?: string; path?: string; query?: string; headers?: Record<string, string | string[]> } = {}): RuleSubject {
  return {
    kind: options.kind ?? 'bearer',
    request: { method: options.method ?? 'GET', headers: options.headers ?? {}, authorizationCount: 0 },
    context: { requestId: 'test', scheme: 'http', host: options.host ?? 'api.example.com', hostname: options.host ?? 'api.example.com', route: 'default/api', path: options.path ?? '/', query: options.query ?? '', upgrade: false },
  };
}

const evaluate = (cel: string, claims: Record<string, unknown>, s: RuleSubject = subject()) => compileOne(cel).evaluate(ruleVariables(claims, s));

const ALICE = { sub: 'alice', email: 'alice@example.com', email_verified: true, 'cognito:groups': ['admins'], scope: 'openid orders/read' };
const BOB = { sub: 'bob', email: 'bob@example.org', email_verified: false, 'cognito:groups': ['staff'], scope: 'orders/read orders/write' };

describe('the examples of the issue', () => {
  it.each([
    ["'admins' in auth.groups || request.method == 'GET'", ALICE, subject({ method: 'DELETE' }), true],
    ["'admins' in auth.groups || request.method == 'GET'", BOB, subject({ method: 'GET' }), true],
    ["'admins' in auth.groups || request.method == 'GET'", BOB, subject({ method: 'DELETE' }), false],
    ["auth.emailVerified && claims.email.endsWith('@example.com')", ALICE, subject(), true],
    ["auth.emailVerified && claims.email.endsWith('@example.com')", { ...ALICE, email_verified: 'false' }, subject(), false],
    ["auth.emailVerified && claims.email.endsWith('@example.com')", { ...BOB, email_verified: 'true' }, subject(), false],
    ["request.path.startsWith('/admin') ? 'admins' in auth.groups : true", BOB, subject({ path: '/admin/users' }), false],
    ["request.path.startsWith('/admin') ? 'admins' in auth.groups : true", ALICE, subject({ path: '/admin/users' }), true],
    ["request.path.startsWith('/admin') ? 'admins' in auth.groups : true", BOB, subject({ path: '/orders' }), true],
    ["auth.kind == 'bearer' && 'orders/write' in auth.scopes", BOB, subject(), true],
    ["auth.kind == 'bearer' && 'orders/write' in auth.scopes", BOB, subject({ kind: 'session' }), false],
    ["auth.kind == 'bearer' && 'orders/write' in auth.scopes", ALICE, subject(), false],
  ] as const)('%s with %j is %s', (cel, claims, s, expected) => {
    expect(evaluate(cel, claims, s)).toBe(expected);
  });
});

describe('the variables', () => {
  it('request: host without port, normalised path, first query and header values', () => {
    const s = subject({ host: 'shop.example.com', path: '/a/b', query: 'tenant=acme&tenant=other&q=x%20y', headers: { 'x-tenant': 'acme', accept: ['a', 'b'] } });
    expect(evaluate("request.host == 'shop.example.com' && request.path == '/a/b'", {}, s)).toBe(true);
    expect(evaluate("request.query.tenant == 'acme' && request.query['q'] == 'x y'", {}, s)).toBe(true);
    expect(evaluate("request.headers['x-tenant'] == claims['custom:tenant'] && request.headers.accept == 'a'", { 'custom:tenant': 'acme' }, s)).toBe(true);
    expect(evaluate("'x-absent' in request.headers", {}, s)).toBe(false);
  });

  it('auth: scopes from scope or scp, groups from cognito:groups or groups', () => {
    expect(evaluate("'b' in auth.scopes && 'g' in auth.groups", { scp: ['a', 'b'], groups: ['g'] })).toBe(true);
    expect(evaluate('size(auth.scopes) == 0 && size(auth.groups) == 0 && !auth.emailVerified', {})).toBe(true);
  });

  it('claims keep their JSON types: numbers compare with int literals, lists take macros, matches() runs RE2', () => {
    expect(evaluate("claims.level >= 3 && claims.tags.exists(t, t.startsWith('eu-'))", { level: 3, tags: ['us-1', 'eu-2'] })).toBe(true);
    expect(evaluate("claims.email.matches('^[a-z]+@example[.]com$')", ALICE)).toBe(true);
    expect(evaluate("has(claims.email) && !has(claims.phone_number)", ALICE)).toBe(true);
    expect(evaluate("claims.email.lowerAscii() == 'alice@example.com'", { email: 'Alice@Example.COM' })).toBe(true);
  });

  it.each(['request.method', 'request.host', 'request.path', 'request.query', 'request.headers', 'auth.kind', 'auth.scopes', 'auth.groups', 'auth.emailVerified'])(
    '%s reads the same value by its qualified name as by its field',
    (name) => {
      const [variable, field] = name.split('.');
      const s = subject({ method: 'PUT', host: 'h.example.com', path: '/p', query: 'a=1', headers: { 'x-a': 'b' } });
      expect(evaluate(`${name} == ${variable}['${field}']`, ALICE, s)).toBe(true);
      expect(evaluate(`${name} == ${variable}['${field}']`, BOB, subject({ kind: 'session' }))).toBe(true);
    },
  );

  it('iterates the maps: headers, query and claims take macros and size()', () => {
    const s = subject({ query: 'a=1&b=2', headers: { 'x-one': '1', 'x-two': ['2', '3'], accept: '*/*' } });
    expect(evaluate("request.headers.filter(h, h.startsWith('x-')).size() == 2 && size(request.query) == 2", {}, s)).toBe(true);
    expect(evaluate("claims.all(k, k != 'password') && claims.exists_one(k, k == 'sub')", ALICE, s)).toBe(true);
  });

  it('builds request and auth only when a rule reads them', () => {
    const s = subject();
    let reads = 0;
    const headers = new Proxy({}, { ownKeys: () => (reads++, []) });
    const variables = ruleVariables({ a: 1 }, { ...s, request: { ...s.request, headers } });
    expect(compileOne('claims.a == 1').evaluate(variables)).toBe(true);
    expect(reads).toBe(0);
    expect(compileOne("size(request.headers) == 0").evaluate(variables)).toBe(true);
    expect(compileOne("request.method == 'GET'").evaluate(variables)).toBe(true);
    expect(reads).toBe(1);
  });
});

describe('evaluation errors refuse', () => {
  it.each([
    ['a missing claim', "claims.email.endsWith('@example.com')", { sub: 'x' }],
    ['a claim of another type', "claims.email.endsWith('@example.com')", { email: 42 }],
    ['a missing header', "request.headers['x-tenant'] == 'acme'", {}],
    ['a dyn that is not a bool', 'claims.admin', { admin: 'yes' }],
    ['an invalid pattern at run time', 'claims.email.matches(claims.pattern)', { email: 'a', pattern: '(' }],
  ])('%s', (_name, cel, claims) => {
    const rule = compileOne(cel);
    const value = rule.evaluate(ruleVariables(claims, subject()));
    expect(value).toEqual({ error: expect.any(String) });
    const steps: TraceStep[] = [];
    expect(firstRefusal([rule], claims, subject(), { record: (step) => steps.push(step) })).toBe(rule);
    expect(steps).toEqual([{ check: 'rule r', result: 'error', detail: expect.stringMatching(/An error counts as false\.$/) }]);
  });

  it('compares numbers of any kind, and dyn with anything', () => {
    expect(evaluate('claims.level == 3 && 3.0 == 3 && claims.level != 4u', { level: 3 })).toBe(true);
    expect(evaluate("claims.tags == ['a'] && claims.n in [1, 2]", { tags: ['a'], n: 2 })).toBe(true);
  });

  it('an error on one side of || that the other side decides is no error (CEL commutative logic)', () => {
    expect(evaluate("claims.missing == 'x' || true", {})).toBe(true);
    expect(evaluate("claims.missing == 'x' && false", {})).toBe(false);
  });
});

describe('the order of the rules', () => {
  it('stops at the first rule that is not true, and traces each one evaluated', () => {
    const errors: string[] = [];
    const rules = compileRules(
      [
        { name: 'first', cel: 'true' },
        { name: 'second', cel: "request.method == 'GET'", message: 'Read only.' },
        { name: 'third', cel: 'false' },
      ],
      (field, message) => errors.push(`${field}: ${message}`),
    );
    expect(errors).toEqual([]);
    const steps: TraceStep[] = [];
    const refusal = firstRefusal(rules, {}, subject({ method: 'POST' }), { record: (step) => steps.push(step) });
    expect(refusal).toMatchObject({ name: 'second', message: 'Read only.' });
    expect(steps.map((step) => `${step.check} ${step.result}`)).toEqual(['rule first pass', 'rule second fail']);
    expect(firstRefusal(rules, {}, subject({ method: 'GET' }))).toMatchObject({ name: 'third', message: null });
  });
});

describe('compile errors name the rule, the field and the column', () => {
  it.each([
    ['a syntax error', "request.method == 'GET' &&", /rules\[0\]\.cel: Rule "r": syntax error at column \d+: .+\.$/],
    ['an undeclared variable', "user.email == 'x'", /type error at column 1: Undeclared reference to user; the variables are claims, request, auth\.$/],
    ['an unknown field of request', "request.pth == '/'", /type error at column 8: request has no field pth; its fields are method, host, path, query, headers\.$/],
    ['an unknown field of auth', 'auth.admin', /type error at column 5: auth has no field admin/],
    ['a call no overload takes', "request.path.startsWith(1)", /type error at column 13: No overload of startsWith\(\) takes string\.\(int\)\.$/],
    ['an operator no overload takes', "request.method + 1 == 'x'", /type error at column 16: No overload of \+ takes \(string, int\)\.$/],
    ['an unknown function', "claims.email.frobnicate()", /type error at column 24: No overload of frobnicate\(\)|Unknown function frobnicate\(\)/],
    ['a result that is not a bool', 'request.path', /the expression is of type string; a rule must be a bool\.$/],
    ['&& on a string', "request.path && true", /type error at column 8: && needs bool operands, not string\.$/],
    ['a macro in a macro', "auth.groups.all(g, auth.scopes.exists(s, s == g))", /type error at column 31: A macro .* inside another one is not allowed/],
    ['a list compared with a string', "auth.groups == 'admins'", /type error at column 13: == compares list\(string\) with string, which are never equal\.$/],
    ['a number looked for among strings', '1 in auth.groups', /type error at column 2: in looks for int among string values, where it is never found\.$/],
    ['in on a string', "'a' in request.path", /in needs a list or a map on its right, not a string\.$/],
    ['a line of a multi-line rule', "request.method == 'GET' &&\n  request.pth == '/'", /type error at line 2, column 10: request has no field pth/],
  ])('%s', (_name, cel, message) => {
    expect(compileError(cel)).toMatch(message);
  });
});

describe('docs/rules.md', () => {
  it('shows only rules that compile', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const docs = readFileSync(join(import.meta.dirname, '../../docs/rules.md'), 'utf8');
    const expressions = [...docs.matchAll(/^\s*(?:- )?cel: "(.*)"$/gm)].map((m) => m[1]!.replaceAll('\\"', '"'));
    expect(expressions.length).toBeGreaterThanOrEqual(8);
    for (const cel of expressions) expect(() => compileOne(cel)).not.toThrow();
  });

  it("evaluates the tenant recipe on the path's segment", () => {
    const cel = "!request.path.startsWith('/tenants/') || request.path.split('/')[2] == claims['custom:tenant']";
    expect(evaluate(cel, { 'custom:tenant': 'acme' }, subject({ path: '/tenants/acme/orders' }))).toBe(true);
    expect(evaluate(cel, { 'custom:tenant': 'acme' }, subject({ path: '/tenants/initech/orders' }))).toBe(false);
    expect(evaluate(cel, {}, subject({ path: '/tenants/acme/orders' }))).toEqual({ error: expect.any(String) });
  });
});

describe('bounds', () => {
  it.each([
    ['parentheses', `${'('.repeat(1000)}true${')'.repeat(1000)}`],
    ['conditions', `${'true && ('.repeat(100)}true${')'.repeat(100)}`],
    ['lists', `${'['.repeat(1000)}${']'.repeat(1000)} == []`],
  ])('refuses %s nested deeper than the evaluation should recurse, without crashing', (_name, cel) => {
    expect(compileError(cel)).toMatch(/Rule "r": (syntax error: Maximum call stack size exceeded|type error at column \d+: The expression nests more than 64 levels deep)\.$/);
  });

  it('takes a long flat expression', () => {
    expect(compileOne(`true${' && true'.repeat(250)}`).evaluate(ruleVariables({}, subject()))).toBe(true);
  });
});
