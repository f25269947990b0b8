// Portcullis as nginx's auth service, end to end: Debian's nginx with auth_request, configured
// with the block docs/forward-auth.md shows, in front of the echo upstream; `portcullis
// standalone` with an auth listener; the Cognito-like provider. Machines send client-credentials
// tokens; a real Chromium signs in through the provider's form and out again.
import { jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Browser, BrowserContext } from 'playwright-core';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import type { EchoRecord } from '../../src/demo/echo-upstream.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { echoed, fillLoginForm, launchChromium } from '../browser/support.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { freePorts } from '../support/ports.ts';
import { startNginx, type RunningNginx } from './nginx.ts';
import { clientCredentialsToken } from './support.ts';

jest.setTimeout(90_000);

const alice = DEMO_USERS[0]!;

let idp: CognitoLikeProvider;
let echo: EchoServer;
let portcullis: PortcullisProcess;
let nginx: RunningNginx;
let browser: Browser;
let site: string;
let token: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const [nginxPort, authPort] = (await freePorts(2)) as [number, number];
  site = `http://127.0.0.1:${nginxPort}`;
  [idp, echo, browser] = await Promise.all([
    startCognitoLikeProvider({ webClient: { redirectURIs: [`${site}/oauth2/callback`], logoutURIs: [`${site}/public/signed-out`] } }),
    startEchoServer(),
    launchChromium(),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-forward-auth-nginx-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    secretYAML('web-client', { secret: idp.clients.web.clientSecret }) +
      policyYAML('machines', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.machine.clientId}
  bearer: {}`) +
      policyYAML('web', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: web-client, key: secret}
  scopes: [openid, email, profile]
  browser: {postLogoutRedirectURL: /public/signed-out}`) +
      // Checks only: nginx forwards, Portcullis decides.
      routeYAML('app', `  mode: AuthOnly
  rules:
    - matches: [{path: {value: /api}}]
      policyRef: {name: machines}
    - matches: [{path: {value: /}}]
      policyRef: {name: web}
    - matches: [{path: {value: /public}}]
      public: true`),
  );
  portcullis = await startPortcullis(['standalone', '-f', dir, '--auth-listen', `127.0.0.1:${authPort}`, '--trust-proxy', '127.0.0.1']);
  for (const name of ['machines', 'web']) await portcullis.waitForLog((line) => line.policy === `default/${name}` && line.condition === 'Ready' && line.status === 'True');
  nginx = await startNginx({ port: nginxPort, authListener: `127.0.0.1:${authPort}`, upstream: new URL(echo.url).host });
  token = await clientCredentialsToken(idp);
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await nginx?.stop();
  await portcullis?.stop();
  await browser?.close();
  await Promise.all([idp?.close(), echo?.close()]);
  expect(idp?.serverErrors() ?? []).toEqual([]);
});

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request to nginx, headers exactly as given. */
function get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${site}${path}`, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('machines through nginx', () => {
  it('a client-credentials token passes: the upstream sees the identity headers and a verifiable assertion', async () => {
    const reply = await get('/api/orders?page=2', { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(200);
    const seen = JSON.parse(reply.body) as EchoRecord;
    expect(seen.path).toBe('/api/orders');
    expect(seen.query).toBe('page=2');
    expect(seen.headers['x-portcullis-client-id']).toBe(idp.clients.machine.clientId);
    // The keys come through nginx too: the documented block routes /.well-known/portcullis/ to Portcullis.
    const keys = createRemoteJWKSet(new URL(`${site}/.well-known/portcullis/jwks.json`));
    const { payload } = await jwtVerify(String(seen.headers['x-portcullis-assertion']), keys, { issuer: 'portcullis', audience: '127.0.0.1' });
    expect(payload).toMatchObject({ client_id: idp.clients.machine.clientId, route: 'default/app', policy: 'default/machines' });
  });

  it('Bearer invalid_token gets 401 with the challenge, and the upstream is never asked', async () => {
    const before = echo.requests.length;
    const reply = await get('/api/orders', { authorization: 'Bearer invalid_token' });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
    expect(reply.headers.location).toBeUndefined();
    expect(echo.requests.length).toBe(before);
  });

  it('a client-sent X-Forwarded-Uri to a protected path is still refused', async () => {
    const reply = await get('/api/orders', { 'x-forwarded-uri': '/public/x', 'x-original-uri': '/public/x' });
    expect(reply.status).toBe(401);
  });

  it("a client's own identity headers never reach the upstream, on a public path either", async () => {
    const reply = await get('/public/x', { 'x-portcullis-subject': 'forged', 'x-portcullis-assertion': 'forged' });
    expect(reply.status).toBe(200);
    const seen = JSON.parse(reply.body) as EchoRecord;
    expect(seen.headers['x-portcullis-subject']).toBeUndefined();
    expect(seen.headers['x-portcullis-assertion']).toBeUndefined();
  });
});

describe('browsers through nginx', () => {
  it('a protected path → the provider\'s form → back on the original URL with its query; logout ends the session', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${site}/reports/2026?year=2026&tab=q1`);
    expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
    await fillLoginForm(page, alice);
    expect(page.url()).toBe(`${site}/reports/2026?year=2026&tab=q1`);
    const seen = await echoed(page);
    expect(seen.path).toBe('/reports/2026');
    expect(seen.headers['x-portcullis-subject']).toBe(alice.sub);
    expect(seen.headers['x-portcullis-email']).toBe(alice.email);
    // Our cookies stay ours: the session cookie is the browser's and Portcullis's, never the application's.
    expect(seen.headers.cookie ?? '').not.toMatch(/_portcullis/);
    expect((await context.cookies(site)).map((cookie) => cookie.name)).toContain('_portcullis');

    const response = await page.goto(`${site}/oauth2/logout`);
    expect(page.url()).toBe(`${site}/public/signed-out`);
    expect(response?.status()).toBe(200);
    expect((await context.cookies(site)).filter((cookie) => cookie.name.startsWith('_portcullis'))).toEqual([]);
    // Signed out: the next navigation asks for the form again.
    await page.goto(`${site}/reports/2026`);
    expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
  });
});
