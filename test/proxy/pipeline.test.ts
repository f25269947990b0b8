// The pipeline in process: buildProxy() over a table compiled from small manifests, on a port of
// its own, with a fake guard (it records what it saw and answers what each test scripts) and a
// fake forwarder (it records the target and answers 200). No process is spawned. These pin the
// orderings the security invariants rest on; the process suites (test/bearer, test/browser,
// test/standalone) keep testing the same behaviour with the real guard and forwarder.
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { compile } from '../../src/compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/model/snapshot.ts';
import type { AllowDecision, AnswerDecision, Guard, GuardContext, GuardDecision, GuardRequest } from '../../src/model/guard.ts';
import type { AuthPolicy } from '../../src/model/policy.ts';
import type { RouteTable } from '../../src/model/table.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { Metrics } from '../../src/observability/metrics.ts';
import { upstreamRequestHeaders } from '../../src/proxy/forward/hop-by-hop.ts';
import type { ForwardOutcome, ForwardTarget, Forwarder } from '../../src/proxy/forward/types.ts';
import { trustedPeers } from '../../src/proxy/headers.ts';
import { createPipeline, DEFAULT_TIMEOUTS } from '../../src/proxy/pipeline.ts';
import { buildProxy, type ProxyServer } from '../../src/proxy/server.ts';
import { parseManifestText, toSnapshot } from '../../src/sources/manifests.ts';
import { policyYAML, routeYAML } from '../support/manifests.ts';
import { send } from './harness.ts';

const MANIFESTS =
  policyYAML(
    'api',
    `  issuer: https://login.example.com
  clientID: api
  bearer: {}
  forward: {headers: {X-User-Email: email, X_Tenant: "custom:tenant"}}`,
  ) +
  policyYAML(
    'web',
    `  issuer: https://login.example.com
  clientID: web
  browser: {session: {cookieName: _web}}
  forward: {headers: {X-User-Name: username}}`,
  ) +
  routeYAML(
    'app',
    `  rules:
    - matches: [{path: {value: /public}}]
      public: true
      backends: [{url: "http://127.0.0.1:9"}]
    - matches: [{path: {value: /api}}]
      policyRef: {name: api}
      backends: [{url: "http://127.0.0.1:9"}]
    - matches: [{path: {value: /web}}]
      policyRef: {name: web}
      backends: [{url: "http://127.0.0.1:9"}]
    - matches: [{path: {value: /missing}}]
      policyRef: {name: nowhere}
      backends: [{url: "http://127.0.0.1:9"}]
    - matches: [{path: {value: /oauth2}}]
      public: true
      backends: [{url: "http://127.0.0.1:9"}]`,
  );

/** Every spelling a client could try for the identity headers of the policies above. */
const FORGED = {
  'X-User-Email': 'mallory@example.com',
  x_user_email: 'mallory@example.com',
  'X-TENANT': 'initech',
  'x-user-name': 'root',
  'X-Portcullis-Subject': 'admin',
  X_PORTCULLIS_GROUPS: 'admins',
  'x-portcullis-id-token': 'forged',
};
const FORGED_KEYS = ['x-user-email', 'x_user_email', 'x-tenant', 'x-user-name', 'x-portcullis-subject', 'x_portcullis_groups', 'x-portcullis-id-token'];

/** Every cookie of ours for the `web` policy, and two of the application's. */
const OUR_COOKIES = '_web=sealed; _web_0=2~a; _web_1=b; _web_login_0123456789abcdef=attempt; _web_restarts=1';

interface GuardCall {
  readonly kind: 'check' | 'endpoint';
  readonly policies: string[];
  readonly headers: Record<string, string | string[] | undefined>;
  readonly context: GuardContext;
}

/** The guard's scripted answers; by default, allow with one identity header. */
let decide: (request: GuardRequest, policy: AuthPolicy, context: GuardContext) => GuardDecision;
let endpointAnswer: (request: GuardRequest, policies: readonly AuthPolicy[], context: GuardContext) => AnswerDecision;
let guardCalls: GuardCall[];
let forwarded: ForwardTarget[];
let metricCalls: { route: string; status: number }[];
let logLines: Record<string, unknown>[];
let proxy: ProxyServer;
let url: string;

const allowAlice = (policy: AuthPolicy): AllowDecision => ({
  kind: 'allow',
  identity: { 'x-user-email': 'alice@example.com' },
  caller: null,
  authorization: null,
  cookies: [],
  log: { policy: policy.key, decision: 'allow', reason: 'TOKEN_VALID', sub: 'alice' },
});

const guard: Guard = {
  async check(request, policy, context) {
    guardCalls.push({ kind: 'check', policies: [policy.key], headers: { ...request.headers }, context });
    return decide(request, policy, context);
  },
  async endpoint(request, policies, context) {
    guardCalls.push({ kind: 'endpoint', policies: policies.map((p) => p.key), headers: { ...request.headers }, context });
    return endpointAnswer(request, policies, context);
  },
};

const forwarder: Forwarder = {
  async forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<ForwardOutcome> {
    forwarded.push({ ...target, headers: { ...target.headers } });
    req.resume();
    const body = '{"upstream":true}';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'x-request-id': target.requestId ?? '' });
    res.end(body);
    return { origin: target.origin, status: 200, requestBytes: 0, responseBytes: body.length, error: null, responseStarted: true };
  },
  async close() {},
};

const metrics: Metrics = {
  registry: new Registry(),
  request: (route, status) => metricCalls.push({ route, status }),
  upstream: () => {},
  decision: () => {},
  sessionRefreshed: () => {},
  providerFetch: () => {},
  tableApplied: () => {},
};

function compileTable(text: string): RouteTable {
  const { objects, problems } = parseManifestText(text, 'pipeline.yaml');
  const options = { ...DEFAULT_COMPILE_OPTIONS, generatedSessionKey: 'generated-key-for-pipeline-tests-0123456789' };
  return compile(toSnapshot(objects, problems, options.defaultNamespace), options).table;
}

beforeAll(async () => {
  const table = compileTable(MANIFESTS);
  expect([...table.policies.keys()].sort()).toEqual(['default/api', 'default/web']);
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const pipeline = createPipeline({
    table: () => table,
    forwarder,
    guard,
    logger: createLogger({ destination }),
    trustedPeers: trustedPeers([]),
    scheme: 'http',
    timeouts: DEFAULT_TIMEOUTS,
    metrics,
  });
  proxy = buildProxy(pipeline);
  await proxy.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await proxy.close();
});

beforeEach(() => {
  decide = (_request, policy) => allowAlice(policy);
  endpointAnswer = () => {
    throw new Error('No endpoint answer scripted.');
  };
  guardCalls = [];
  forwarded = [];
  metricCalls = [];
  logLines = [];
});

/** The access-log line of the request with this id. */
function logOf(requestId: string | string[] | undefined): Record<string, unknown> {
  const line = logLines.find((entry) => entry.msg === 'request' && entry.requestId === requestId);
  if (line === undefined) throw new Error(`No access-log line for ${String(requestId)}.`);
  return line;
}

/** The names of the headers the forwarder sends upstream for this target (a header left undefined is not sent). */
function sentUpstream(target: ForwardTarget): string[] {
  return upstreamRequestHeaders(target.headers).filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

function lowerCaseNames(headers: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(headers).map((name) => name.toLowerCase());
}

describe('identity headers', () => {
  it.each(['/api/x', '/web/x'])('on %s: stripped in every spelling before the guard runs; upstream only what the guard set', async (path) => {
    const reply = await send(`${url}${path}`, { headers: { ...FORGED, 'X-Other': 'kept' } });
    expect(reply.status).toBe(200);
    expect(guardCalls).toHaveLength(1);
    const seen = lowerCaseNames(guardCalls[0]!.headers);
    for (const name of FORGED_KEYS) expect(seen).not.toContain(name);
    expect(guardCalls[0]!.headers['x-other']).toBe('kept');

    expect(forwarded).toHaveLength(1);
    const upstream = forwarded[0]!.headers;
    expect(upstream['x-user-email']).toBe('alice@example.com');
    expect(lowerCaseNames(upstream).filter((name) => FORGED_KEYS.includes(name))).toEqual(['x-user-email']);
    expect(upstream['x-other']).toBe('kept');
  });

  it('are stripped on a public rule too, where no guard runs', async () => {
    const reply = await send(`${url}/public/x`, { headers: { ...FORGED, 'X-Other': 'kept' } });
    expect(reply.status).toBe(200);
    expect(guardCalls).toEqual([]);
    expect(lowerCaseNames(forwarded[0]!.headers).filter((name) => FORGED_KEYS.includes(name))).toEqual([]);
    expect(forwarded[0]!.headers['x-other']).toBe('kept');
  });

  it('the guard decides the Authorization header the upstream gets', async () => {
    decide = (_request, policy) => ({ ...allowAlice(policy), authorization: 'Bearer upstream-token' });
    await send(`${url}/api/x`, { headers: { authorization: 'Bearer client-token' } });
    expect(guardCalls[0]!.headers.authorization).toBe('Bearer client-token');
    expect(forwarded[0]!.headers.authorization).toBe('Bearer upstream-token');

    decide = (_request, policy) => allowAlice(policy);
    await send(`${url}/api/x`, { headers: { authorization: 'Bearer client-token' } });
    expect(sentUpstream(forwarded[1]!)).not.toContain('authorization');
  });

  it('the guard is told how many Authorization headers came: Node keeps only the first', async () => {
    let count = 0;
    decide = (request, policy) => {
      count = request.authorizationCount;
      return allowAlice(policy);
    };
    await send(`${url}/api/x`, { headers: { authorization: ['Bearer one', 'Bearer two'] } });
    expect(count).toBe(2);
  });
});

describe("the proxy's cookies", () => {
  it.each([
    ['a public rule', '/public/x', 0],
    ['a bearer policy', '/api/x', 1],
    ['a browser policy', '/web/x', 1],
  ])('never reach the upstream on %s', async (_name, path, guardRuns) => {
    await send(`${url}${path}`, { headers: { cookie: `app=1; ${OUR_COOKIES}; _webx=theirs` } });
    expect(guardCalls).toHaveLength(guardRuns);
    expect(forwarded[0]!.headers.cookie).toBe('app=1; _webx=theirs');
  });

  it('leave no Cookie header at all when nothing else was sent', async () => {
    await send(`${url}/api/x`, { headers: { cookie: OUR_COOKIES } });
    expect(sentUpstream(forwarded[0]!)).not.toContain('cookie');
  });

  it("are the guard's to read, and the guard's cookies reach the client with the upstream's answer", async () => {
    decide = (_request, policy) => ({ ...allowAlice(policy), cookies: ['_web=resealed; Path=/; HttpOnly; SameSite=Lax'] });
    const reply = await send(`${url}/web/x`, { headers: { cookie: `app=1; ${OUR_COOKIES}` } });
    expect(guardCalls[0]!.headers.cookie).toBe(`app=1; ${OUR_COOKIES}`);
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual(['_web=resealed; Path=/; HttpOnly; SameSite=Lax']);
    expect(forwarded[0]!.headers.cookie).toBe('app=1');
  });
});

describe('callback and logout paths', () => {
  it.each(['/oauth2/callback', '/oauth2/logout'])('%s is answered by the guard before matching, though a Route matches it', async (path) => {
    endpointAnswer = (_request, policies) => ({
      kind: 'answer',
      answer: { kind: 'redirect', status: 302, location: 'https://login.example.com/next', cookies: ['_web_login_x=; Max-Age=0'] },
      log: { policy: policies[0]!.key, decision: 'redirect', reason: 'SIGNED_OUT' },
    });
    const reply = await send(`${url}${path}?state=abc`, { headers: { ...FORGED } });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe('https://login.example.com/next');
    expect(reply.headers['set-cookie']).toEqual(['_web_login_x=; Max-Age=0']);
    expect(reply.headers['content-length']).toBe('0');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.body.length).toBe(0);
    expect(guardCalls.map((call) => [call.kind, call.policies, call.context.path, call.context.query])).toEqual([['endpoint', ['default/web'], path, 'state=abc']]);
    expect(lowerCaseNames(guardCalls[0]!.headers).filter((name) => FORGED_KEYS.includes(name))).toEqual([]);
    expect(forwarded).toEqual([]);
    expect(logOf(reply.headers['x-request-id'])).toMatchObject({ status: 302, policy: 'default/web', decision: 'redirect', reason: 'SIGNED_OUT' });
    expect(logOf(reply.headers['x-request-id'])).not.toHaveProperty('route');
  });

  it('a path beside them is matched and forwarded as usual', async () => {
    const reply = await send(`${url}/oauth2/other`);
    expect(reply.status).toBe(200);
    expect(guardCalls).toEqual([]);
    expect(forwarded).toHaveLength(1);
  });
});

describe('fail closed', () => {
  it('a rule whose policy does not exist answers 503 without the guard or the upstream', async () => {
    const reply = await send(`${url}/missing/x`);
    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.body.toString())).toEqual({
      error: { code: 'POLICY_NOT_FOUND', status: 503, message: 'The policy protecting this route does not exist.', requestId: reply.headers['x-request-id'] },
    });
    expect(guardCalls).toEqual([]);
    expect(forwarded).toEqual([]);
    expect(logOf(reply.headers['x-request-id'])).toMatchObject({ status: 503, code: 'POLICY_NOT_FOUND', route: 'default/app/rules[3]/matches[0]' });
  });
});

describe('answers, written by the one response module', () => {
  const denial = (policy: AuthPolicy): GuardDecision => ({
    kind: 'answer',
    answer: { kind: 'error', status: 401, code: 'SESSION_REQUIRED', message: 'Sign in <first>.', headers: { 'www-authenticate': 'Bearer realm="portcullis"' }, cookies: ['_web=; Max-Age=0'] },
    log: { policy: policy.key, decision: 'deny', reason: 'SESSION_EXPIRED' },
  });

  it('an error: JSON with its code, its headers and cookies; the log says the code, the finer reason as cause', async () => {
    decide = (_request, policy) => denial(policy);
    const reply = await send(`${url}/web/x`);
    const requestId = reply.headers['x-request-id'];
    expect(reply.status).toBe(401);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
    expect(reply.headers['set-cookie']).toEqual(['_web=; Max-Age=0']);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(reply.body.toString())).toEqual({ error: { code: 'SESSION_REQUIRED', status: 401, message: 'Sign in <first>.', requestId } });
    expect(forwarded).toEqual([]);
    expect(logOf(requestId)).toMatchObject({ status: 401, code: 'SESSION_REQUIRED', decision: 'deny', reason: 'SESSION_REQUIRED', cause: 'SESSION_EXPIRED' });
    expect(metricCalls).toEqual([{ route: 'default/app', status: 401 }]);
  });

  it('an error for a browser: an HTML page, its text escaped; no body for HEAD', async () => {
    decide = (_request, policy) => denial(policy);
    const page = await send(`${url}/web/x`, { headers: { accept: 'text/html' } });
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body.toString()).toContain('<p>Sign in &#60;first&#62;.</p>');
    expect(page.body.toString()).toContain('<code>SESSION_REQUIRED</code>');

    const head = await send(`${url}/web/x`, { method: 'HEAD', headers: { accept: 'text/html' } });
    expect(head.status).toBe(401);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.body.length).toBe(0);
  });

  it('a page: HTML that sends the browser on, escaped, under a strict CSP, with its cookies', async () => {
    decide = (_request, policy) => ({
      kind: 'answer',
      answer: { kind: 'page', status: 200, title: 'Signed in', next: '/after?a=1&b="x"', cookies: ['_web=new; Path=/'] },
      log: { policy: policy.key, decision: 'handled', reason: 'SIGNED_IN' },
    });
    const reply = await send(`${url}/web/x`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-security-policy']).toBe("default-src 'none'");
    expect(reply.headers['set-cookie']).toEqual(['_web=new; Path=/']);
    const body = reply.body.toString();
    expect(body).toContain('<meta http-equiv="refresh" content="0;url=/after?a=1&#38;b=&#34;x&#34;">');
    expect(body).toContain('<p>Signed in. <a href="/after?a=1&#38;b=&#34;x&#34;">Continue</a>.</p>');
    expect(forwarded).toEqual([]);
    expect(logOf(reply.headers['x-request-id'])).toMatchObject({ status: 200, decision: 'handled', reason: 'SIGNED_IN' });
    expect(logOf(reply.headers['x-request-id'])).not.toHaveProperty('code');
  });

  it('a redirect to sign in', async () => {
    decide = (_request, policy) => ({
      kind: 'answer',
      answer: { kind: 'redirect', status: 302, location: 'https://login.example.com/authorize?state=s', cookies: ['_web_login_s=attempt; Path=/'] },
      log: { policy: policy.key, decision: 'redirect', reason: 'SESSION_MISSING' },
    });
    const reply = await send(`${url}/web/x`);
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe('https://login.example.com/authorize?state=s');
    expect(reply.headers['set-cookie']).toEqual(['_web_login_s=attempt; Path=/']);
    expect(forwarded).toEqual([]);
  });

  it('no rule: 404, and the metrics name no Route', async () => {
    const reply = await send(`${url}/nowhere`);
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.body.toString()).error.code).toBe('NOT_FOUND');
    expect(metricCalls).toEqual([{ route: 'none', status: 404 }]);
  });

  it('a refused WebSocket upgrade: on the raw socket, its code as the reason phrase, no cookies, and the guard saw no forged header', async () => {
    decide = (_request, policy) => denial(policy);
    const answer = await rawExchange(url, [
      'GET /web/socket HTTP/1.1',
      'Host: example.com',
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'X-User-Email: mallory@example.com',
      'X_Portcullis_Subject: admin',
    ]);
    const [head, body] = answer.split('\r\n\r\n') as [string, string];
    const [statusLine, ...lines] = head.split('\r\n');
    expect(statusLine).toBe('HTTP/1.1 401 SESSION_REQUIRED');
    const names = lines.map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
    expect(names).toEqual(expect.arrayContaining(['www-authenticate', 'content-type', 'content-length', 'x-request-id', 'connection']));
    expect(names).not.toContain('set-cookie');
    expect(JSON.parse(body).error.code).toBe('SESSION_REQUIRED');
    expect(guardCalls).toHaveLength(1);
    expect(guardCalls[0]!.context.upgrade).toBe(true);
    expect(lowerCaseNames(guardCalls[0]!.headers).filter((name) => FORGED_KEYS.includes(name))).toEqual([]);
  });
});

describe('header hygiene', () => {
  /** Identity headers of other proxies, which an upstream written for one of them would believe. */
  const OTHERS = { 'X-Amzn-Oidc-Data': 'forged', x_amzn_oidc_identity: 'mallory', 'X-Forwarded-User': 'root', 'X-Auth-Request-Email': 'root@example.com', REMOTE_USER: 'root', 'X-Pomerium-Jwt-Assertion': 'forged' };
  const OTHER_KEYS = ['x-amzn-oidc-data', 'x_amzn_oidc_identity', 'x-forwarded-user', 'x-auth-request-email', 'remote_user', 'x-pomerium-jwt-assertion'];

  it.each([['a public rule', '/public/x', 0], ['a protected rule', '/api/x', 1]])("other proxies' identity headers never reach the guard or the upstream on %s", async (_name, path, guardRuns) => {
    const reply = await send(`${url}${path}`, { headers: { ...OTHERS, 'X-Amzn-Trace-Id': 'kept' } });
    expect(reply.status).toBe(200);
    expect(guardCalls).toHaveLength(guardRuns);
    for (const call of guardCalls) expect(lowerCaseNames(call.headers).filter((name) => OTHER_KEYS.includes(name))).toEqual([]);
    expect(lowerCaseNames(forwarded[0]!.headers).filter((name) => OTHER_KEYS.includes(name))).toEqual([]);
    expect(forwarded[0]!.headers['x-amzn-trace-id']).toBe('kept');
  });

  it("the forwarder is given the table's cookie names, to keep the upstream from setting ours", async () => {
    await send(`${url}/public/x`);
    expect(forwarded[0]!.proxyCookies).toEqual(['_web']);
  });

  it.each([
    [['GET /public/x HTTP/1.1', 'Host: example.com', 'Host: other.example.com', 'Connection: close'], 'HOST_DUPLICATE'],
    [['GET /public/x HTTP/1.1', 'Host: example.com', 'host: example.com', 'Connection: close'], 'HOST_DUPLICATE'],
    [['GET http://a.example/public/x HTTP/1.1', 'Host: b.example', 'Connection: close'], 'HOST_MISMATCH'],
    [['GET /web/socket HTTP/1.1', 'Host: example.com', 'Host: other.example.com', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='], 'HOST_DUPLICATE'],
  ])('%j: 400 %s, before the guard and the upstream', async (head, code) => {
    const answer = await rawExchange(url, head);
    expect(answer.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code).toBe(code);
    expect(guardCalls).toEqual([]);
    expect(forwarded).toEqual([]);
  });
});

describe('the server in front of the pipeline', () => {
  it('a target no router could decode still reaches the normaliser: 400 with our code, and an access-log line', async () => {
    const answer = await rawExchange(url, ['GET /api/%zz%E0%A4%A HTTP/1.1', 'Host: example.com', 'Connection: close']);
    const [head, body] = answer.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    const { error } = JSON.parse(body) as { error: { code: string; requestId: string } };
    expect(error.code).toBe('TARGET_BAD_PERCENT_ENCODING');
    expect(guardCalls).toEqual([]);
    expect(logOf(error.requestId)).toMatchObject({ status: 400, code: error.code, host: 'example.com' });
  });

  it('a hostile path, Host or User-Agent can neither break the access-log line nor add a field to it', async () => {
    const hostile = 'x","status":200,"forged":"yes","y":"\\';
    const answer = await rawExchange(url, [`GET /public/${hostile.replaceAll('\\', '%5C')}?q=${hostile} HTTP/1.1`, `Host: ${hostile}`, `User-Agent: ${hostile}`, 'Connection: close']);
    const requestId = /\r\nx-request-id: ([^\r]+)\r\n/i.exec(answer)?.[1];
    const line = logOf(requestId);
    expect(line.host).toBe(hostile);
    expect(line).not.toHaveProperty('forged');
    expect(line).not.toHaveProperty('y');
    expect(typeof line.status).toBe('number');
    expect(line.status).toBe(Number(answer.slice(9, 12)));
    expect(Object.keys(line).every((key) => ['level', 'time', 'msg', 'requestId', 'method', 'host', 'path', 'status', 'durationMs', 'peer', 'route', 'code', 'upstream', 'attempts', 'bytesIn', 'bytesOut'].includes(key))).toBe(true);
  });
});

/** Sends a request head as written and reads the answer until the server closes the connection. */
async function rawExchange(base: string, lines: string[]): Promise<string> {
  const socket = connect(Number(new URL(base).port), '127.0.0.1');
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  await once(socket, 'close');
  return data;
}
