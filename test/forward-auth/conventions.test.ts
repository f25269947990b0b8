// The forward-auth listener's contract with each caller, over real sockets to the real process:
// the checks nginx auth_request, Traefik ForwardAuth and Envoy ext_authz (HTTP) send, written
// here header by header as each of them sends it. (nginx itself runs in nginx.test.ts; a real
// Traefik or Envoy is not run: this is their header contract.)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { freePorts } from '../support/ports.ts';
import { clientCredentialsToken, sendCheck, walkthroughManifests } from './support.ts';

const API = 'api.example.com';
const APP = 'app.example.com';
/** What a browser sends when it navigates to a page. */
const NAVIGATION = { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' };

let idp: CognitoLikeProvider;
let echo: EchoServer;
let proxy: PortcullisProcess;
let allowing: PortcullisProcess;
let nginx: string;
let traefik: string;
let envoy: string;
let token: string;

beforeAll(async () => {
  [idp, echo] = await Promise.all([startCognitoLikeProvider(), startEchoServer()]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-forward-auth-'));
  writeFileSync(join(dir, 'manifests.yaml'), walkthroughManifests(idp, { api: API, app: APP }, echo.url));
  const [nginxPort, traefikPort, envoyPort, allowPort] = await freePorts(4);
  nginx = `http://127.0.0.1:${nginxPort}`;
  traefik = `http://127.0.0.1:${traefikPort}`;
  envoy = `http://127.0.0.1:${envoyPort}`;
  const listeners = ['--auth-listen', `127.0.0.1:${nginxPort}`, '--auth-listen', `127.0.0.1:${traefikPort}=traefik`, '--auth-listen', `127.0.0.1:${envoyPort}=envoy`];
  [proxy, allowing] = await Promise.all([
    startPortcullis(['standalone', '-f', dir, '--trust-proxy', '127.0.0.1', '--auth-envoy-prefix', '/check', ...listeners]),
    startPortcullis(['standalone', '-f', dir, '--trust-proxy', '127.0.0.1', '--auth-listen', `127.0.0.1:${allowPort}`, '--auth-default-allow']),
  ]);
  for (const process of [proxy, allowing]) {
    for (const name of ['machines', 'web']) await process.waitForLog((line) => line.policy === `default/${name}` && line.condition === 'Ready' && line.status === 'True');
  }
  token = await clientCredentialsToken(idp);
}, 60_000);

afterAll(async () => {
  await Promise.all([proxy?.stop(), allowing?.stop()]);
  await Promise.all([idp?.close(), echo?.close()]);
});

/** nginx's auth location, as docs/forward-auth.md configures it. */
const nginxCheck = (host: string, uri: string, extra: Record<string, string> = {}) => ({ host: '127.0.0.1', 'x-original-uri': uri, 'x-original-method': 'GET', 'x-forwarded-host': host, 'x-forwarded-proto': 'http', ...extra });

describe('nginx auth_request', () => {
  it('allows a client-credentials token: 200, the identity headers and a verifiable assertion as response headers', async () => {
    const answer = await sendCheck(nginx, nginxCheck(API, '/protected/orders?page=2', { authorization: `Bearer ${token}` }));
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('');
    expect(answer.headers['x-client-id']).toBe(idp.clients.machine.clientId);
    expect(answer.headers['x-portcullis-client-id']).toBe(idp.clients.machine.clientId);
    const keys = createRemoteJWKSet(new URL(`${proxy.url}/.well-known/portcullis/jwks.json`));
    const { payload } = await jwtVerify(String(answer.headers['x-portcullis-assertion']), keys, { issuer: 'portcullis', audience: API });
    expect(payload).toMatchObject({ client_id: idp.clients.machine.clientId, route: 'default/api', policy: 'default/machines' });
  });

  it('refuses an invalid token with the proxy\'s own 401: JSON body and WWW-Authenticate', async () => {
    const answer = await sendCheck(nginx, nginxCheck(API, '/protected', { authorization: 'Bearer invalid_token' }));
    expect(answer.status).toBe(401);
    expect(answer.code).toBe('TOKEN_MALFORMED');
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
    expect(answer.headers['x-portcullis-assertion']).toBeUndefined();
  });

  it('reads the original URI from X-Original-URI only: a client-sent X-Forwarded-Uri changes nothing', async () => {
    const answer = await sendCheck(nginx, nginxCheck(API, '/protected/x', { 'x-forwarded-uri': '/public/x' }));
    expect(answer.status).toBe(401);
    expect(answer.code).toBe('TOKEN_MISSING');
  });

  it('allows a public rule without identity: every identity header empty, for the caller to replace the client\'s forged ones', async () => {
    const answer = await sendCheck(nginx, nginxCheck(API, '/public/x', { 'x-client-id': 'forged', 'x-portcullis-subject': 'forged', cookie: 'theme=dark; _portcullis=sealed; lang=en' }));
    expect(answer.status).toBe(200);
    for (const name of ['x-client-id', 'x-user-email', 'x-portcullis-subject', 'x-portcullis-email', 'x-portcullis-groups', 'x-portcullis-client-id', 'x-portcullis-assertion']) {
      expect([name, answer.headers[name]]).toEqual([name, '']);
    }
    // Our cookies stay ours: the Cookie header to forward has none of them.
    expect(answer.headers.cookie).toBe('theme=dark; lang=en');
  });

  it('takes X-Original-URL (ingress-nginx), whose host and path must agree with the other headers', async () => {
    const url = (path: string) => ({ host: '127.0.0.1', 'x-original-url': `http://${API}${path}`, 'x-original-method': 'GET' });
    expect((await sendCheck(nginx, { ...url('/protected'), authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await sendCheck(nginx, url('/public/y'))).status).toBe(200);
    // A client's X-Original-URI beside nginx's X-Original-URL, or the other way round: refused.
    const disagree = await sendCheck(nginx, { ...url('/protected'), 'x-original-uri': '/public/y' });
    expect([disagree.status, disagree.code]).toEqual([400, 'CHECK_INVALID']);
    const otherHost = await sendCheck(nginx, { ...url('/public/y'), 'x-forwarded-host': 'elsewhere.example.com' });
    expect([otherHost.status, otherHost.code]).toEqual([400, 'HOST_MISMATCH']);
  });

  it('refuses a target the proxy would refuse, with the same code', async () => {
    const answer = await sendCheck(nginx, nginxCheck(API, '/public/..%2Fprotected'));
    expect([answer.status, answer.code]).toEqual([400, 'TARGET_ENCODED_SLASH']);
    const traversal = await sendCheck(nginx, nginxCheck(API, '/public/../protected'));
    expect([traversal.status, traversal.code]).toEqual([401, 'TOKEN_MISSING']);
  });

  it('fails closed: no Route → 403 NO_ROUTE; --auth-default-allow lets it through without identity', async () => {
    const refused = await sendCheck(nginx, nginxCheck('unknown.example.com', '/'));
    expect([refused.status, refused.code]).toEqual([403, 'NO_ROUTE']);
    const allowListener = String((allowing.logs.find((line) => line.msg === 'listening')!.auth as string[])[0]);
    const allowed = await sendCheck(allowListener, nginxCheck('unknown.example.com', '/'));
    expect(allowed.status).toBe(200);
    // Routes still decide where they match.
    expect((await sendCheck(allowListener, nginxCheck(API, '/protected'))).status).toBe(401);
  });

  it('believes only trusted peers: a check from any other address gets 403', async () => {
    const answer = await sendCheck(nginx, nginxCheck(API, '/public/x'), { localAddress: '127.0.0.2' });
    expect([answer.status, answer.code]).toEqual([403, 'PEER_NOT_TRUSTED']);
  });

  it('answers a browser without a session with 401 (nginx passes on no redirect), and the sign-in start redirects', async () => {
    const answer = await sendCheck(nginx, nginxCheck(APP, '/reports?year=2026', NAVIGATION));
    // A browser asked for a page: the error is an HTML page, with its code.
    expect(answer.status).toBe(401);
    expect(answer.body).toContain('<code>SESSION_REQUIRED</code>');
    expect(answer.headers['set-cookie']).toBeUndefined();

    // nginx routes the sign-in start to this listener as a plain request (no X-Original-*).
    const start = await sendCheck(nginx, { host: APP, ...NAVIGATION }, { path: `/.well-known/portcullis/start?rd=${encodeURIComponent(`http://${APP}/reports?year=2026`)}` });
    expect(start.status).toBe(302);
    const location = new URL(String(start.headers.location));
    expect(location.origin).toBe(idp.origin);
    expect(location.searchParams.get('redirect_uri')).toBe(`http://${APP}/oauth2/callback`);
    expect(String(start.headers['set-cookie'])).toMatch(/_portcullis_login_/);
  });

  it('the sign-in start redirects nowhere else: rd must be this host, served by a browser policy', async () => {
    for (const rd of ['https://evil.example.com/', '//evil.example.com/', '/\\evil.example.com', `http://${API}/protected`, 'javascript:alert(1)', `http://user@${APP}/`]) {
      const answer = await sendCheck(nginx, { host: APP }, { path: `/.well-known/portcullis/start?rd=${encodeURIComponent(rd)}` });
      expect([rd, answer.status, answer.code]).toEqual([rd, 400, 'SIGNIN_TARGET_INVALID']);
    }
    // A bearer-only route is no place to sign in.
    const bearerOnly = await sendCheck(nginx, { host: API }, { path: '/.well-known/portcullis/start?rd=/protected' });
    expect([bearerOnly.status, bearerOnly.code]).toEqual([400, 'SIGNIN_TARGET_INVALID']);
  });

  it('refuses a plain request for anything but its own paths, and a check without X-Original-Method', async () => {
    const plain = await sendCheck(nginx, { host: API });
    expect([plain.status, plain.code]).toEqual([400, 'CHECK_INVALID']);
    expect((await sendCheck(nginx, { host: API }, { path: '/.well-known/portcullis/jwks.json' })).status).toBe(200);
    const noMethod = await sendCheck(nginx, { host: '127.0.0.1', 'x-original-uri': '/public/x', 'x-forwarded-host': API });
    expect([noMethod.status, noMethod.code]).toEqual([400, 'CHECK_INVALID']);
  });
});

/** Traefik's ForwardAuth request: the original headers, and X-Forwarded-* describing the request. */
const traefikCheck = (host: string, uri: string, method = 'GET', extra: Record<string, string> = {}) => ({
  host: '127.0.0.1',
  'x-forwarded-method': method,
  'x-forwarded-proto': 'https',
  'x-forwarded-host': host,
  'x-forwarded-uri': uri,
  'x-forwarded-for': '203.0.113.7',
  ...extra,
});

describe('Traefik ForwardAuth', () => {
  it('allows a token with the identity headers; refuses without one', async () => {
    const allowed = await sendCheck(traefik, traefikCheck(API, '/protected?x=1', 'POST', { authorization: `Bearer ${token}` }));
    expect(allowed.status).toBe(200);
    expect(allowed.headers['x-client-id']).toBe(idp.clients.machine.clientId);
    const refused = await sendCheck(traefik, traefikCheck(API, '/protected', 'GET'));
    expect([refused.status, refused.code]).toEqual([401, 'TOKEN_MISSING']);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
  });

  it('sends a browser without a session to sign in (302, with the attempt cookie), on the original scheme and host', async () => {
    const answer = await sendCheck(traefik, traefikCheck(APP, '/reports?year=2026', 'GET', NAVIGATION));
    expect(answer.status).toBe(302);
    const location = new URL(String(answer.headers.location));
    expect(location.origin).toBe(idp.origin);
    expect(location.searchParams.get('redirect_uri')).toBe(`https://${APP}/oauth2/callback`);
    expect(String(answer.headers['set-cookie'])).toMatch(/_portcullis_login_[^;]+;.*Secure/);
  });

  it('serves the callback path through the check itself', async () => {
    const answer = await sendCheck(traefik, traefikCheck(APP, '/oauth2/callback?state=unknown&code=x', 'GET', NAVIGATION));
    // No attempt in this browser: as on the proxy listener, the person is told so (a page with
    // Try again), and nothing goes to the provider.
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('This sign-in could not be completed');
    expect(answer.headers.location).toBeUndefined();
  });

  it('never allows a check that describes one of the proxy\'s own paths (they answer 200 for themselves)', async () => {
    for (const path of ['/.well-known/portcullis/jwks.json', '/.well-known/portcullis/signed-out', '/.well-known/portcullis/me']) {
      const answer = await sendCheck(traefik, traefikCheck(APP, path, 'GET', { accept: 'application/json' }));
      expect([path, answer.status]).not.toEqual([path, 200]);
    }
    const keys = await sendCheck(traefik, traefikCheck(API, '/.well-known/portcullis/jwks.json'));
    expect([keys.status, keys.code]).toEqual([403, 'NO_ROUTE']);
  });

  it('refuses a check that does not describe a request', async () => {
    const { 'x-forwarded-uri': _uri, ...withoutUri } = traefikCheck(API, '/public');
    const answer = await sendCheck(traefik, withoutUri);
    expect([answer.status, answer.code]).toEqual([400, 'CHECK_INVALID']);
  });
});

describe('Envoy ext_authz (HTTP service)', () => {
  it('reads the original method, Host and path after the prefix', async () => {
    const allowed = await sendCheck(envoy, { host: API, authorization: `Bearer ${token}` }, { method: 'DELETE', path: '/check/protected/7?force=1' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['x-client-id']).toBe(idp.clients.machine.clientId);
    const publicRule = await sendCheck(envoy, { host: API }, { path: '/check/public/x' });
    expect(publicRule.status).toBe(200);
    const refused = await sendCheck(envoy, { host: API, authorization: 'Bearer invalid_token' }, { path: '/check/protected' });
    expect([refused.status, refused.code]).toEqual([401, 'TOKEN_MALFORMED']);
  });

  it('sends a browser without a session to sign in, and refuses a path outside the prefix', async () => {
    const navigation = await sendCheck(envoy, { host: APP, ...NAVIGATION }, { path: '/check/reports' });
    expect(navigation.status).toBe(302);
    const outside = await sendCheck(envoy, { host: API }, { path: '/public/x' });
    expect([outside.status, outside.code]).toEqual([400, 'CHECK_INVALID']);
  });
});

describe('the proxy listener', () => {
  it('answers 503 AUTH_ONLY for a rule without backends, and forwards the Route\'s other rules', async () => {
    const authOnly = await sendCheck(proxy.url, { host: 'proxied.example.com', authorization: `Bearer ${token}` }, { path: '/checked/x' });
    expect([authOnly.status, authOnly.code]).toEqual([503, 'AUTH_ONLY']);
    const forwarded = await sendCheck(proxy.url, { host: 'proxied.example.com', authorization: `Bearer ${token}` }, { path: '/other' });
    expect(forwarded.status).toBe(200);
    // The check's answer for the same rule: the Route's policy decides.
    expect((await sendCheck(nginx, nginxCheck('proxied.example.com', '/checked/x', { authorization: `Bearer ${token}` }))).status).toBe(200);
  });

  it('serves the sign-in start too', async () => {
    const start = await sendCheck(proxy.url, { host: APP, ...NAVIGATION }, { path: '/.well-known/portcullis/start?rd=/reports' });
    expect(start.status).toBe(302);
    expect(new URL(String(start.headers.location)).origin).toBe(idp.origin);
  });
});
