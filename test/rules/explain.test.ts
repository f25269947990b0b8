// CEL rules end to end: the proxy as its own process (standalone), oidc-provider issuing client
// credentials tokens, a Cognito-shaped mint for users' ID tokens, and `portcullis explain` run as
// its own process on the same manifests. The same requests go to both, and they must agree.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { runCli } from '../support/cli.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

const READ = 'default-m2m-resource-server/read';
const WRITE = 'default-m2m-resource-server/write';

let idp: CognitoLikeProvider;
let mint: CognitoMint;
let echo: EchoServer;
let proxy: PortcullisProcess;
let dir: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  [idp, mint, echo] = await Promise.all([startCognitoLikeProvider(), startCognitoMint(), startEchoServer()]);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-rules-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    policyYAML('machines', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.machine.clientId}
  bearer: {}
  authorization:
    requiredScopes: [${READ}]
    rules:
      - name: writes-need-write
        cel: "request.method in ['GET', 'HEAD'] || '${WRITE}' in auth.scopes"
        message: Writing needs the write scope.
      - name: tenant
        cel: "!('x-tenant' in request.headers) || request.headers['x-tenant'] == 'acme'"`) +
      policyYAML('people', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  bearer: {tokenUse: any}
  authorization:
    rules:
      - name: example-staff
        cel: "auth.emailVerified && claims.email.endsWith('@example.com')"
        message: Only example.com staff.
      - name: admin-paths
        cel: "request.path.startsWith('/people/admin') ? 'admins' in auth.groups : true"`) +
      policyYAML('typo', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  bearer: {}
  authorization:
    rules:
      - name: typo
        cel: "auth.kind == 'bearer' && request.pth == '/'"`) +
      routeYAML('api', `  hostnames: [api.example.com]
  rules:
    - matches: [{path: {value: /machines}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /people}}]
      policyRef: {name: people}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /typo}}]
      policyRef: {name: typo}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {type: Exact, value: /public}}]
      public: true
      backends: [{url: "${echo.url}"}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir]);
  tokens.read = await clientCredentials(READ);
  tokens.alice = mint.mint({}, { kind: 'id' });
  // Until each policy's provider has answered the proxy, the proxy answers 503 POLICY_NOT_READY.
  for (const c of [{ path: '/machines', token: 'read' }, { path: '/people', token: 'alice' }]) {
    while ((await askProxy(c)).code === 'POLICY_NOT_READY') await new Promise((resolve) => setTimeout(resolve, 50));
  }
  tokens.readWrite = await clientCredentials(`${READ} ${WRITE}`);
  tokens.write = await clientCredentials(WRITE);
  tokens.bob = mint.mint({ 'cognito:groups': undefined, email: 'bob@example.com', email_verified: true }, { kind: 'id' });
  tokens.mallory = mint.mint({ email: 'mallory@example.org' }, { kind: 'id' });
  tokens.noEmail = mint.mint({ email: undefined }, { kind: 'id' });
  tokens.expired = mint.mint({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }, { kind: 'id' });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([idp?.close(), mint?.close(), echo?.close()]);
});

async function clientCredentials(scope: string): Promise<string> {
  const { clientId, clientSecret } = idp.clients.machine;
  const discovery = (await (await fetch(idp.discoveryURL)).json()) as { token_endpoint: string };
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

interface Case {
  readonly path: string;
  readonly method?: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

/** What the running proxy answered: the status, and our error's code and message (null when the upstream answered). */
async function askProxy(c: Case) {
  const headers: Record<string, string> = { host: 'api.example.com', ...c.headers };
  if (c.token !== undefined) headers.authorization = `Bearer ${tokens[c.token]}`;
  const { request } = await import('node:http');
  return new Promise<{ status: number; code: string | null; message: string | null; requestId: string }>((resolve, reject) => {
    const req = request(`${proxy.url}${c.path}`, { method: c.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        const error = (JSON.parse(body) as { error?: { code: string; message: string } }).error;
        resolve({ status: res.statusCode!, code: error?.code ?? null, message: error?.message ?? null, requestId: String(res.headers['x-request-id']) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface Explained {
  readonly exit: number | null;
  readonly json: {
    match: { rule: string } | null;
    nearMisses: { rule: string; differs: string }[];
    policy: { name: string; provider: { ready: boolean } | null } | null;
    checks: { check: string; result: string; detail: string }[];
    answer: { decision: string; status: number | null; code: string | null; message: string | null; reason: string | null; detail?: string };
  };
}

async function askExplain(c: Case, extra: readonly string[] = []): Promise<Explained> {
  const args = ['explain', '-f', dir, '-o', 'json', '-X', c.method ?? 'GET'];
  for (const [name, value] of Object.entries(c.headers ?? {})) args.push('-H', `${name}: ${value}`);
  if (c.token !== undefined) args.push('--token', tokens[c.token]!);
  const result = await runCli([...args, ...extra, `http://api.example.com${c.path}`]);
  expect(result.stderr).toBe('');
  return { exit: result.code, json: JSON.parse(result.stdout) };
}

const CASES: readonly (readonly [string, Case, number, string | null])[] = [
  ['a read token reads', { path: '/machines/orders', token: 'read' }, 200, null],
  ['a read token may not write', { path: '/machines/orders', method: 'POST', token: 'read' }, 403, 'RULE_DENIED'],
  ['a read and write token writes', { path: '/machines/orders', method: 'POST', token: 'readWrite' }, 200, null],
  ['another tenant is refused', { path: '/machines/orders', token: 'read', headers: { 'x-tenant': 'initech' } }, 403, 'RULE_DENIED'],
  ['the tenant acme passes', { path: '/machines/orders', token: 'read', headers: { 'x-tenant': 'acme' } }, 200, null],
  ['the required scope comes before the rules', { path: '/machines/orders', method: 'POST', token: 'write' }, 403, 'SCOPE_MISSING'],
  ['no token', { path: '/machines/orders' }, 401, 'TOKEN_MISSING'],
  ['alice, an admin at example.com', { path: '/people/admin/users', token: 'alice' }, 200, null],
  ['bob is no admin', { path: '/people/admin/users', token: 'bob' }, 403, 'RULE_DENIED'],
  ['bob elsewhere', { path: '/people/me', token: 'bob' }, 200, null],
  ['another email domain', { path: '/people/me', token: 'mallory' }, 403, 'RULE_DENIED'],
  ['a missing claim is an evaluation error, refused', { path: '/people/me', token: 'noEmail' }, 403, 'RULE_DENIED'],
  ['an expired token', { path: '/people/me', token: 'expired' }, 401, 'TOKEN_EXPIRED'],
  ['a policy with a rule that does not type-check fails closed', { path: '/typo', token: 'alice' }, 503, 'POLICY_INVALID'],
  ['a public rule', { path: '/public' }, 200, null],
  ['no rule', { path: '/nowhere' }, 404, 'NOT_FOUND'],
  ['a target the normaliser refuses', { path: '/people/a%2Fb', token: 'alice' }, 400, 'TARGET_ENCODED_SLASH'],
];

describe('the running proxy and `portcullis explain` agree', () => {
  // explain runs as its own process for each case: a few at a time, started before the cases run.
  const explained = new Map<Case, Promise<Explained>>();
  beforeAll(() => {
    const lanes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve(), Promise.resolve(), Promise.resolve()];
    for (const [i, [, c]] of CASES.entries()) {
      const result = lanes[i % lanes.length]!.then(() => askExplain(c));
      lanes[i % lanes.length] = result.catch(() => undefined);
      explained.set(c, result);
    }
  });

  it.each(CASES)('%s', async (_name, c, status, code) => {
    const answered = await askProxy(c);
    const explanation = await explained.get(c)!;
    expect({ status: answered.status, code: answered.code }).toEqual({ status, code });
    const { answer } = explanation.json;
    if (status === 200) {
      expect(['allow', 'forward']).toContain(answer.decision);
      expect(explanation.exit).toBe(0);
    } else {
      expect({ status: answer.status, code: answer.code, message: answer.message }).toEqual({ status, code, message: answered.message });
      expect(explanation.exit).toBe(1);
    }
  }, 30_000);
});

describe('a refusal by a rule', () => {
  it("answers the rule's message, or says its name, and the access log names the rule", async () => {
    const written = await askProxy({ path: '/machines/orders', method: 'POST', token: 'read' });
    expect(written.message).toBe('Writing needs the write scope.');
    const tenant = await askProxy({ path: '/machines/orders', token: 'read', headers: { 'x-tenant': 'initech' } });
    expect(tenant.message).toBe('The rule tenant refused this request.');
    const line = await proxy.waitForLog((l) => l.requestId === tenant.requestId && l.status === 403);
    expect(line).toMatchObject({ policy: 'default/machines', decision: 'deny', reason: 'RULE_DENIED', cause: 'rule:tenant' });
  });
});

describe('portcullis explain', () => {
  it('shows each check in order, with its value, up to the rule that refused', async () => {
    const { json } = await askExplain({ path: '/machines/orders', method: 'POST', token: 'read' });
    expect(json.match?.rule).toBe('default/api/rules[0]/matches[0]');
    expect(json.policy).toEqual({ name: 'default/machines', provider: { ready: true, message: expect.any(String) } });
    expect(json.checks.map((step) => `${step.check}: ${step.result}`)).toEqual([
      'shape: pass',
      'algorithm: pass',
      'issuer: pass',
      'key: pass',
      'signature: pass',
      'expiry: pass',
      'token use: pass',
      'client: pass',
      'scopes: pass',
      'rule writes-need-write: fail',
    ]);
    expect(json.answer.reason).toBe('rule:writes-need-write');
  });

  it('says a rule that could not be evaluated counted as false', async () => {
    const { json } = await askExplain({ path: '/people/me', token: 'noEmail' });
    expect(json.checks.at(-1)).toEqual({ check: 'rule example-staff', result: 'error', detail: expect.stringMatching(/email.*An error counts as false\.$/) });
  });

  it('lists the near misses when no rule matches: same host other paths, same path other host', async () => {
    const { json, exit } = await askExplain({ path: '/peeple' });
    expect(exit).toBe(1);
    expect(json.nearMisses).toContainEqual({ rule: 'default/api/rules[1]/matches[0]', differs: 'path: the rule takes PathPrefix /people' });
    const result = await runCli(['explain', '-f', dir, '-o', 'json', 'http://other.example.com/people/me']);
    expect(JSON.parse(result.stdout).nearMisses).toEqual([{ rule: 'default/api/rules[1]/matches[0]', differs: 'host: the rule takes api.example.com' }]);
  });

  it("says why a rule answers 503, from its Route's status", async () => {
    const { json } = await askExplain({ path: '/typo', token: 'alice' });
    expect(json.answer).toMatchObject({ status: 503, code: 'POLICY_INVALID', detail: expect.stringContaining('OIDCPolicy default/typo is not valid (spec.authorization.rules[0].cel: Rule "typo": type error at column 33') });
  });

  it('takes claims instead of a token', async () => {
    const admin = await runCli(['explain', '-f', dir, '--claims', '{"email": "carol@example.com", "email_verified": true, "cognito:groups": ["admins"]}', 'http://api.example.com/people/admin']);
    expect(admin.code).toBe(0);
    expect(admin.stdout).toMatch(/^ {2}pass +rule admin-paths +true$/m);
    const outsider = await runCli(['explain', '-f', dir, '--claims', '{"email": "carol@example.org", "email_verified": true}', 'http://api.example.com/people/me']);
    expect(outsider.code).toBe(1);
    expect(outsider.stdout).toMatch(/^Answer +403 RULE_DENIED: Only example\.com staff\. \(reason rule:example-staff\)$/m);
  });

  it("marks the signature not checked when the provider's keys cannot be fetched, and checks the rest", async () => {
    mint.down();
    try {
      const { json, exit } = await askExplain({ path: '/people/admin/x', token: 'bob' }, ['--provider-timeout', '5s']);
      expect(json.policy?.provider?.ready).toBe(false);
      expect(json.checks.map((step) => `${step.check}: ${step.result}`)).toEqual([
        'shape: pass',
        'algorithm: not-checked',
        'issuer: pass',
        'key: not-checked',
        'signature: not-checked',
        'expiry: pass',
        'token use: pass',
        'client: pass',
        'rule example-staff: pass',
        'rule admin-paths: fail',
      ]);
      expect(json.answer).toMatchObject({ status: 403, code: 'RULE_DENIED' });
      expect(exit).toBe(1);
    } finally {
      mint.up();
    }
  }, 30_000);

  it('refuses a usage error with exit 2', async () => {
    for (const args of [[], ['not-a-url'], ['--claims', '[1]', 'http://api.example.com/'], ['--claims', '{}', '--token', 'x', 'http://api.example.com/']]) {
      const result = await runCli(['explain', '-f', dir, ...args]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^portcullis: [A-Z`-].*\.\n/);
    }
  });
});

describe('portcullis validate', () => {
  it('shows a rule that does not type-check as a condition, with the rule and the column', async () => {
    const result = await runCli(['validate', '-f', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/OIDCPolicy default\/typo +Accepted +False +InvalidRule +spec\.authorization\.rules\[0\]\.cel: Rule "typo": type error at column 33: request has no field pth; its fields are method, host, path, query, headers\./);
    expect(result.stdout).toMatch(/OIDCPolicy default\/machines +Accepted +True/);
  });
});
