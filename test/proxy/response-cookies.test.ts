// The proxy's cookies in the upstream's answer, in process: the real pipeline and the real undici
// forwarder (and WebSocket relay) over a table compiled from manifests, a real upstream that sets
// cookies, and a scripted guard that re-seals the session (as the browser flow does when it
// refreshes tokens or moves the idle timeout). The upstream never sets or clears one of our
// cookies; our re-sealed session reaches the client beside the upstream's own cookies.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { compile } from '../../src/compile/compile.ts';
import type { AllowDecision, Guard } from '../../src/model/guard.ts';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/model/snapshot.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createUndiciForwarder, type Forwarder } from '../../src/proxy/forward/index.ts';
import { trustedPeers } from '../../src/proxy/headers.ts';
import { createPipeline, DEFAULT_TIMEOUTS } from '../../src/proxy/pipeline.ts';
import { buildProxy, type ProxyServer } from '../../src/proxy/server.ts';
import { parseManifestText, toSnapshot } from '../../src/sources/manifests.ts';
import { closeServer, startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML } from '../support/manifests.ts';
import { send } from './harness.ts';

const RESEALED = '_web=resealed; Path=/; HttpOnly; SameSite=Lax';

/** What the upstream tries to set: three of ours (session, chunk, login attempt) and two of its own. */
const UPSTREAM_COOKIES = ['_web=evil; Path=/', '_web_0=2~evil', '_web_login_0123456789abcdef=evil', 'app=1; Path=/', '_webx=theirs'];
const THEIRS = ['app=1; Path=/', '_webx=theirs'];

let echo: EchoServer;
let wss: WebSocketServer;
let forwarder: Forwarder;
let proxy: ProxyServer;
let url: string;
/** The cookies the scripted guard sets with its allow decision. */
let guardCookies: string[];

const guard: Guard = {
  async check(_request, policy) {
    const decision: AllowDecision = { kind: 'allow', identity: {}, caller: null, authorization: null, cookies: guardCookies, log: { policy: policy.key, decision: 'allow', reason: 'SESSION_VALID' } };
    return decision;
  },
  async endpoint() {
    throw new Error('No endpoint answer scripted.');
  },
};

beforeAll(async () => {
  echo = await startEchoServer({ record: false });
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('headers', (headers) => headers.push(...UPSTREAM_COOKIES.map((line) => `Set-Cookie: ${line}`)));
  const socketOrigin = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const closed = createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const closedPort = (closed.address() as AddressInfo).port;
  await closeServer(closed);

  const manifests =
    policyYAML('web', `  issuer: https://login.example.com
  clientID: web
  browser: {session: {cookieName: _web}}`) +
    routeYAML('public', `  hostnames: [public.example]
  rules: [{matches: [{path: {value: /response-headers}}], public: true, backends: [{url: "${echo.url}"}]}]`) +
    routeYAML('web', `  hostnames: [web.example]
  policyRef: {name: web}
  rules:
    - matches: [{path: {value: /response-headers}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /down}}]
      backends: [{url: "http://127.0.0.1:${closedPort}"}]
    - matches: [{path: {value: /socket}}]
      backends: [{url: "${socketOrigin}"}]`);
  const { objects, problems } = parseManifestText(manifests, 'cookies.yaml');
  const options = { ...DEFAULT_COMPILE_OPTIONS, generatedSessionKey: 'generated-key-for-cookie-tests-0123456789' };
  const { table } = compile(toSnapshot(objects, problems, options.defaultNamespace), options);
  expect(table.proxyCookies).toEqual(['_web']);

  forwarder = createUndiciForwarder();
  const pipeline = createPipeline({ table: () => table, forwarder, guard, logger: createLogger({ level: 'silent' }), trustedPeers: trustedPeers([]), scheme: 'http', timeouts: DEFAULT_TIMEOUTS });
  proxy = buildProxy(pipeline);
  await proxy.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await proxy?.close();
  await forwarder?.close();
  await new Promise<void>((resolve) => {
    for (const client of wss?.clients ?? []) client.terminate();
    if (wss === undefined) resolve();
    else wss.close(() => resolve());
  });
  await echo?.close();
});

beforeEach(() => {
  guardCookies = [];
});

const settingCookies = `/response-headers?${UPSTREAM_COOKIES.map((line) => `set-cookie=${encodeURIComponent(line)}`).join('&')}`;

describe("the upstream's Set-Cookie", () => {
  it('for one of our cookies never reaches the client on a public rule; its own cookies do', async () => {
    const reply = await send(`${url}${settingCookies}`, { headers: { host: 'public.example' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual(THEIRS);
  });

  it('is filtered the same on a protected rule when the session is not re-sealed', async () => {
    const reply = await send(`${url}${settingCookies}`, { headers: { host: 'web.example' } });
    expect(reply.headers['set-cookie']).toEqual(THEIRS);
  });
});

describe('a re-sealed session', () => {
  it("reaches the client beside the upstream's own cookies (writeHead used to drop it)", async () => {
    guardCookies = [RESEALED];
    const reply = await send(`${url}${settingCookies}`, { headers: { host: 'web.example' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual([...THEIRS, RESEALED]);
  });

  it('reaches the client when the upstream sets no cookie', async () => {
    guardCookies = [RESEALED, '_web_1=; Max-Age=0; Path=/'];
    const reply = await send(`${url}/response-headers?x-app=1`, { headers: { host: 'web.example' } });
    expect(reply.headers['x-app']).toBe('1');
    expect(reply.headers['set-cookie']).toEqual([RESEALED, '_web_1=; Max-Age=0; Path=/']);
  });

  it('reaches the client with our error when the upstream cannot be reached', async () => {
    guardCookies = [RESEALED];
    const reply = await send(`${url}/down`, { headers: { host: 'web.example' } });
    expect(reply.status).toBe(502);
    expect(reply.headers['set-cookie']).toEqual([RESEALED]);
  });

  it("reaches the client with a WebSocket's 101, beside the upstream's own cookies and without its copies of ours", async () => {
    guardCookies = [RESEALED];
    const client = new WebSocket(`${url.replace('http', 'ws')}/socket`, { headers: { host: 'web.example' } });
    // 'open' follows 'upgrade' in the same tick: both are listened for at once.
    const [[response]] = (await Promise.all([once(client, 'upgrade'), once(client, 'open')])) as [[{ headers: Record<string, string | string[] | undefined> }], unknown];
    expect(response.headers['set-cookie']).toEqual([...THEIRS, RESEALED]);
    client.close();
  });
});
