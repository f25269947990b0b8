// The browser sign-in end to end, in a real Chromium: two `portcullis standalone` processes
// sharing one session key Secret, the Cognito-like provider (its own sign-in form, filled in the
// browser every time), and the echo upstream showing what reached it. No test makes a session
// by hand: every session comes from the provider's form.
import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { bigUser, echoed, fillLoginForm, freePort, launchChromium, policyYAML, secretYAML } from './support.ts';

jest.setTimeout(90_000);

const alice = DEMO_USERS[0]!;
const bob = DEMO_USERS[1]!;
const carol = bigUser();
/** Access and ID tokens of the `short` provider live this long (seconds). */
const SHORT_LIFETIME = 6;

let browser: Browser;
let echo: EchoServer;
let idp: CognitoLikeProvider;
let shortIdp: CognitoLikeProvider;
let otherIdp: CognitoLikeProvider;
let proxyA: PortcullisProcess;
let proxyB: PortcullisProcess;
let siteA: string;
let siteB: string;
/** A tiny layer-7 balancer in front of both processes: callbacks go to B, everything else to A. */
let front: string;
let balancer: Server;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const [portA, portB, portFront] = [await freePort(), await freePort(), await freePort()];
  siteA = `http://127.0.0.1:${portA}`;
  siteB = `http://127.0.0.1:${portB}`;
  front = `http://127.0.0.1:${portFront}`;
  balancer = startBalancer(portFront, portA, portB);
  const webClient = {
    redirectURIs: [`${siteA}/oauth2/callback`, `${siteB}/oauth2/callback`, `${front}/oauth2/callback`, `${siteA}/generic/callback`],
    logoutURIs: [`${siteA}/`, `${siteB}/`, `${siteA}/signed-out`, `${siteA}/.well-known/portcullis/signed-out`, `${siteB}/.well-known/portcullis/signed-out`],
  };
  [browser, echo, idp, shortIdp, otherIdp] = await Promise.all([
    launchChromium(),
    startEchoServer(),
    startCognitoLikeProvider({ users: [...DEMO_USERS, carol], webClient }),
    startCognitoLikeProvider({ webClient, lifetimes: { accessToken: SHORT_LIFETIME, idToken: SHORT_LIFETIME } }),
    startCognitoLikeProvider({ webClient, pool: 'Other6789' }),
  ]);

  const cognito = (provider: CognitoLikeProvider, secretKey: string, browserSpec: string, extra = '') => `  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.clients.web.clientId}
  clientSecretRef: {name: keys, key: ${secretKey}}
  scopes: [openid, email, profile]
  browser:
${browserSpec}
  forward:
    headers: {X-User-Sub: sub, X-User-Email: email, X-User-Groups: "cognito:groups", X-User-Name: username, X-Tenant: "custom:tenant"}
${extra}`;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-browser-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    // One Secret, shared by both processes: the session keys (two lines: the first seals) and the client secrets.
    secretYAML('keys', {
      'session-keys': `${randomBytes(32).toString('base64url')}\n${randomBytes(32).toString('base64url')}`,
      web: idp.clients.web.clientSecret,
      short: shortIdp.clients.web.clientSecret,
      other: otherIdp.clients.web.clientSecret,
    }) +
      policyYAML('web', cognito(idp, 'web', `    postLogoutRedirectURL: /signed-out
    session: {secretRef: {name: keys, key: session-keys}}`, `    accessToken: true
    idToken: true
  bearer: {allowedClientIDs: [${idp.clients.web.clientId}]}`)) +
      policyYAML('short', cognito(shortIdp, 'short', '    session: {secretRef: {name: keys, key: session-keys}, cookieName: _short}')) +
      policyYAML('idle', cognito(idp, 'web', '    session: {secretRef: {name: keys, key: session-keys}, cookieName: _idle, idleTimeout: 4s}')) +
      // SameSite=Strict sessions: the callback answers with a page that continues same-site.
      policyYAML('strict', cognito(idp, 'web', '    session: {secretRef: {name: keys, key: session-keys}, cookieName: _strict, sameSite: Strict}')) +
      // The same provider read as a generic OpenID provider: end_session_endpoint for logout.
      policyYAML('generic', `  issuer: ${idp.issuer}
  provider: Generic
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: keys, key: web}
  browser:
    callbackPath: /generic/callback
    logoutPath: /generic/logout
    session: {secretRef: {name: keys, key: session-keys}, cookieName: _generic}
  forward: {headers: {X-User-Sub: sub, X-User-Name: "cognito:username"}}
`) +
      // Same cookie name, same Secret, same callback path as `web`: only the issuer and client differ.
      policyYAML('other', cognito(otherIdp, 'other', '    session: {secretRef: {name: keys, key: session-keys}}')) +
      // Same issuer, client, Secret, cookie name and callback path as `web`: only its name differs.
      policyYAML('twin', cognito(idp, 'web', '    session: {secretRef: {name: keys, key: session-keys}}')) +
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: echo}
spec:
  rules:
    - matches: [{path: {value: /anything}}]
      policyRef: {name: web}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /short}}]
      policyRef: {name: short}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /idle}}]
      policyRef: {name: idle}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /strict}}]
      policyRef: {name: strict}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /generic}}]
      policyRef: {name: generic}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /other}}]
      policyRef: {name: other}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /twin}}]
      policyRef: {name: twin}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {type: Exact, value: /}}, {path: {type: Exact, value: /signed-out}}]
      public: true
      backends: [{url: "${echo.url}"}]
`,
  );
  [proxyA, proxyB] = await Promise.all([
    startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${portA}`]),
    startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${portB}`]),
  ]);
  for (const proxy of [proxyA, proxyB]) {
    for (const name of ['web', 'short', 'idle', 'strict', 'generic', 'other', 'twin']) {
      await proxy.waitForLog((line) => line.policy === `default/${name}` && line.condition === 'Ready' && line.status === 'True');
    }
  }
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await Promise.all([proxyA?.stop(), proxyB?.stop()]);
  balancer?.close();
  await browser?.close();
  await Promise.all([echo?.close(), idp?.close(), shortIdp?.close(), otherIdp?.close()]);
  for (const provider of [idp, shortIdp, otherIdp]) expect(provider?.serverErrors() ?? []).toEqual([]);
});

const requestsOf = new WeakMap<Page, string[]>();

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext();
  contexts.push(context);
  // Every URL each page requested, for tests that need the state or the callback the provider sent.
  context.on('page', (page) => {
    const urls: string[] = [];
    requestsOf.set(page, urls);
    page.on('request', (request) => urls.push(request.url()));
  });
  return context;
}

/** Opens `url`, expects the provider's form, signs in as `user`, and answers the page where it landed. */
async function signIn(page: Page, url: string, user: { username: string; password: string }, provider: CognitoLikeProvider = idp) {
  await page.goto(url);
  expect(page.url().startsWith(`${provider.origin}/interaction/`)).toBe(true);
  const response = await fillLoginForm(page, user);
  return response;
}

function startBalancer(port: number, portA: number, portB: number): Server {
  const server = createServer((req, res) => {
    const target = (req.url ?? '').startsWith('/oauth2/callback') ? portB : portA;
    const upstream = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.listen(port, '127.0.0.1');
  return server;
}

const ourCookies = (names: string[]) => names.filter((name) => /^_(portcullis|short|idle|strict|generic)/.test(name));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** fetch() from the page, as a single-page app would. */
function pageFetch(page: Page, path: string) {
  return page.evaluate(async (target) => {
    const response = await fetch(target, { headers: { accept: 'application/json' } });
    return { status: response.status, redirected: response.redirected, url: response.url, body: await response.text() };
  }, path);
}

describe('signing in through the provider', () => {
  it('lands on the URL asked for, with identity headers upstream and none of our cookies', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const response = await signIn(page, `${siteA}/anything/test?q=1`, alice);
    expect(page.url()).toBe(`${siteA}/anything/test?q=1`);
    expect(response?.status()).toBe(200);
    const seen = await echoed(page);
    expect(seen.path).toBe('/anything/test');
    expect(seen.headers['x-user-sub']).toBe(alice.sub);
    expect(seen.headers['x-user-email']).toBe('alice@example.com');
    expect(seen.headers['x-user-groups']).toBe('admins,users');
    expect(seen.headers['x-user-name']).toBe('alice');
    expect(seen.headers['x-tenant']).toBe('acme');
    expect(seen.headers.authorization).toMatch(/^Bearer eyJ/);
    // Our cookies stay ours: the provider's own cookies (same host) pass, ours never do.
    expect(seen.headers.cookie ?? '').not.toMatch(/_portcullis|_login_/);

    const cookies = await context.cookies(siteA);
    const session = cookies.find((cookie) => cookie.name === '_portcullis')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    expect(cookies.filter((cookie) => cookie.name.includes('_login_'))).toEqual([]);
    const tokens = seen.headers.authorization!.length - 'Bearer '.length + seen.headers['x-portcullis-id-token']!.length;
    console.log(`session of alice: tokens ${tokens} bytes (ID + access), cookie ${session.name.length + 1 + session.value.length} bytes`);

    // Nor do they reach the upstream of a public rule.
    await page.goto(`${siteA}/`);
    const publicSeen = await echoed(page);
    expect(publicSeen.path).toBe('/');
    expect(publicSeen.headers.cookie ?? '').not.toMatch(/_portcullis|_login_/);
    expect(publicSeen.headers['x-user-sub']).toBeUndefined();

    // A second tab of the same browser is signed in already.
    const second = await context.newPage();
    const again = await second.goto(`${siteA}/anything/second`);
    expect(again?.status()).toBe(200);
    expect(second.url()).toBe(`${siteA}/anything/second`);
    expect((await echoed(second)).headers['x-user-sub']).toBe(alice.sub);
  });

  it('two tabs signing in at once each land where they started', async () => {
    const context = await newContext();
    const [one, two] = [await context.newPage(), await context.newPage()];
    await Promise.all([one.goto(`${siteA}/anything/one`), two.goto(`${siteA}/anything/two`)]);
    for (const page of [one, two]) expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
    // One login attempt cookie per tab: neither overwrote the other's state.
    expect((await context.cookies(siteA)).filter((cookie) => cookie.name.startsWith('_portcullis_login_'))).toHaveLength(2);
    await Promise.all([fillLoginForm(one, alice), fillLoginForm(two, alice)]);
    expect(one.url()).toBe(`${siteA}/anything/one`);
    expect(two.url()).toBe(`${siteA}/anything/two`);
    expect((await echoed(one)).headers['x-user-sub']).toBe(alice.sub);
    expect((await echoed(two)).headers['x-user-sub']).toBe(alice.sub);
    expect((await context.cookies(siteA)).filter((cookie) => cookie.name.includes('_login_'))).toEqual([]);
  });

  it('abandoned sign-ins leave at most a handful of attempt cookies', async () => {
    const context = await newContext();
    const page = await context.newPage();
    for (let i = 0; i < 7; i++) await page.goto(`${siteA}/anything/abandoned-${i}`);
    const attempts = (await context.cookies(siteA)).filter((cookie) => cookie.name.startsWith('_portcullis_login_'));
    expect(attempts.length).toBeLessThanOrEqual(4);
    // The newest attempt is among those kept: signing in now finishes it.
    await fillLoginForm(page, bob);
    expect(page.url()).toBe(`${siteA}/anything/abandoned-6`);
  });

  it('a sign-in started at one process finishes at another that shares the keys', async () => {
    const context = await newContext();
    const page = await context.newPage();
    // Behind the balancer, process A starts the sign-in and process B answers the callback.
    await signIn(page, `${front}/anything/replicas`, alice);
    expect(page.url()).toBe(`${front}/anything/replicas`);
    expect((await echoed(page)).headers['x-user-sub']).toBe(alice.sub);
    // Access-log lines are written in batches: wait for them rather than read what is there.
    await proxyA.waitForLog((line) => line.reason === 'SESSION_MISSING' && line.decision === 'redirect');
    await proxyB.waitForLog((line) => line.reason === 'SIGNED_IN');
    // And the session B sealed is good at A (same host, so the browser sends it there too).
    const atA = await page.goto(`${siteA}/anything/back-at-a`);
    expect(atA?.status()).toBe(200);
    expect((await echoed(page)).headers['x-user-sub']).toBe(alice.sub);
  });

  it('a stale callback (used code, no attempt cookie) is a page with Try again, not a silent new sign-in', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/stale`, alice);
    const callbackURL = requestsOf.get(page)!.find((url) => url.startsWith(`${siteA}/oauth2/callback?`))!;
    expect(callbackURL).toBeDefined();
    // Replaying the callback (or a forged link to it): its attempt cookie is gone. The person is
    // told so, and nothing is sent to the provider until they choose to try again.
    const seen = requestsOf.get(page)!.length;
    const replay = await page.goto(callbackURL);
    expect(replay?.status()).toBe(400);
    await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('This sign-in could not be completed');
    expect(requestsOf.get(page)!.slice(seen).some((url) => url.startsWith(idp.origin))).toBe(false);
    // Try again: the provider still knows the user, so the new sign-in comes straight back.
    await Promise.all([page.waitForURL(`${siteA}/`), page.getByRole('link', { name: 'Try again' }).click()]);
    expect(requestsOf.get(page)!.slice(seen).some((url) => url.startsWith(`${idp.origin}/oauth2/authorize`))).toBe(true);
    expect((await context.cookies(siteA)).some((cookie) => cookie.name === '_portcullis')).toBe(true);
  });

  it('sends PKCE S256; the provider requires it, and refuses the same sign-in without it', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${siteA}/anything/pkce`);
    expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
    const authorize = new URL((requestsOf.get(page) ?? []).find((url) => url.startsWith(`${idp.origin}/oauth2/authorize`))!);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    // BASE64URL(SHA-256(verifier)): 32 bytes, 43 characters.
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The same request without the challenge: the provider sends the browser back with an error
    // before showing its form, and the proxy shows it as a page; no session is made.
    authorize.searchParams.delete('code_challenge');
    authorize.searchParams.delete('code_challenge_method');
    const refused = await page.goto(authorize.href);
    const callback = new URL(page.url());
    expect(`${callback.origin}${callback.pathname}`).toBe(`${siteA}/oauth2/callback`);
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(refused?.status()).toBe(502);
    expect(await page.locator('body').innerText()).toContain('refused the sign-in request');
    expect(ourCookies((await context.cookies(siteA)).map((cookie) => cookie.name)).filter((name) => !name.includes('_login_'))).toEqual([]);

    // With it, the sign-in completes (the provider checked the verifier at the token endpoint).
    await signIn(page, `${siteA}/anything/pkce`, alice);
    expect(page.url()).toBe(`${siteA}/anything/pkce`);
    expect((await echoed(page)).headers['x-user-sub']).toBe(alice.sub);
  });

  it('a provider error at the callback is a clear page with the right status', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${siteA}/anything/denied`);
    expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
    // What a provider sends when the user declines: this attempt's state, error=access_denied.
    const state = attemptState(page);
    const response = await page.goto(`${siteA}/oauth2/callback?error=access_denied&error_description=User+declined&state=${state}`);
    expect(response?.status()).toBe(403);
    expect(await page.locator('body').innerText()).toContain('denied the sign-in');
    expect((await context.cookies(siteA)).filter((cookie) => cookie.name.includes('_login_'))).toEqual([]);
    // The same error for an attempt this browser never started: the page, not a loop to the provider.
    const unknown = await page.goto(`${siteA}/oauth2/callback?error=access_denied&state=${'x'.repeat(43)}`);
    expect(unknown?.status()).toBe(403);
    await expect(page.getByRole('link', { name: 'Try again' }).isVisible()).resolves.toBe(true);
    // An API asking the same gets the JSON error as ever (the page's own CSP allows no fetch()).
    const api = await page.request.get(`${siteA}/oauth2/callback?error=server_error&state=none`, { headers: { accept: 'application/json' } });
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('SIGNIN_REJECTED');
  });
});

/** The `state` of the last authorization request the page made. */
function attemptState(page: Page): string {
  const authorize = (requestsOf.get(page) ?? []).filter((url) => url.startsWith(`${idp.origin}/oauth2/authorize`)).at(-1);
  if (authorize === undefined) throw new Error('no authorization request seen');
  return new URL(authorize).searchParams.get('state')!;
}

describe('sessions', () => {
  it('an expired access token is refreshed once for concurrent requests, and the user stays signed in', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/short/start`, alice, shortIdp);
    expect(page.url()).toBe(`${siteA}/short/start`);
    const before = shortIdp.tokenEndpointCalls();
    expect(before.authorization_code).toBeGreaterThanOrEqual(1);
    const firstCookie = (await context.cookies(siteA)).find((cookie) => cookie.name === '_short')!.value;

    await sleep((SHORT_LIFETIME + 1) * 1000);
    // Five requests at once, all carrying the expired session: one refresh serves them all.
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => pageFetch(page, `/short/concurrent-${i}`)));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).headers['x-user-sub']).toBe(alice.sub);
    }
    const after = shortIdp.tokenEndpointCalls();
    expect((after.refresh_token ?? 0) - (before.refresh_token ?? 0)).toBe(1);
    expect(after.authorization_code).toBe(before.authorization_code);
    const refreshedCookie = (await context.cookies(siteA)).find((cookie) => cookie.name === '_short')!.value;
    expect(refreshedCookie).not.toBe(firstCookie);

    // Again after the next expiry: the provider sent no new refresh token, the old one still works.
    await sleep((SHORT_LIFETIME + 1) * 1000);
    const next = await page.goto(`${siteA}/short/later`);
    expect(next?.status()).toBe(200);
    expect(page.url()).toBe(`${siteA}/short/later`);
    const last = shortIdp.tokenEndpointCalls();
    expect((last.refresh_token ?? 0) - (before.refresh_token ?? 0)).toBe(2);
    expect(last.authorization_code).toBe(before.authorization_code);
    console.log(`token endpoint calls (short-lived provider): ${JSON.stringify(last)}`);
  });

  it('a fetch() from the page after the session expired gets 401 JSON, not a redirect; a navigation signs in again', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/idle/page`, bob);
    expect((await pageFetch(page, '/idle/api')).status).toBe(200);
    // Who am I finds the host's policy that holds a session, and says when it ends.
    const me = () => page.request.get(`${siteA}/.well-known/portcullis/me`, { headers: { accept: 'application/json' } });
    const mine = (await (await me()).json()) as { name: string; policy: string; expiresAt: string };
    expect(mine).toMatchObject({ name: 'bob', policy: 'default/idle' });
    expect(Date.parse(mine.expiresAt) - Date.now()).toBeLessThanOrEqual(4_000);
    await sleep(5_000); // the idle policy's idleTimeout is 4s
    // Timed out: no session, whatever the cookie still says.
    expect((await me()).status()).toBe(401);
    const seenBefore = echo.requests.length;
    const answer = await pageFetch(page, '/idle/api');
    expect(answer.status).toBe(401);
    expect(answer.redirected).toBe(false);
    expect(JSON.parse(answer.body).error.code).toBe('SESSION_REQUIRED');
    expect(echo.requests.length).toBe(seenBefore);
    // The expired session's cookies were cleared with that answer.
    expect(ourCookies((await context.cookies(siteA)).map((cookie) => cookie.name)).filter((name) => name.startsWith('_idle'))).toEqual([]);
    // A navigation goes to the provider, which still knows bob: straight back, signed in.
    const again = await page.goto(`${siteA}/idle/page`);
    expect(again?.status()).toBe(200);
    expect(page.url()).toBe(`${siteA}/idle/page`);
  });

  it('a user whose claims make the session larger than 8 KiB gets chunked cookies that work', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const response = await signIn(page, `${siteA}/anything/big`, carol);
    expect(response?.status()).toBe(200);
    const seen = await echoed(page);
    expect(seen.headers['x-user-sub']).toBe(carol.sub);
    expect(seen.headers['x-user-groups']!.split(',')).toEqual(carol.groups);
    expect(seen.headers.cookie ?? '').not.toMatch(/_portcullis/);
    // The tokens the session holds (the upstream sees both: forward.accessToken and idToken).
    const tokens = seen.headers.authorization!.length - 'Bearer '.length + seen.headers['x-portcullis-id-token']!.length;
    expect(tokens).toBeGreaterThan(8 * 1024);
    const chunks = (await context.cookies(siteA)).filter((cookie) => /^_portcullis(_\d+)?$/.test(cookie.name));
    const size = chunks.reduce((total, cookie) => total + cookie.name.length + 1 + cookie.value.length, 0);
    console.log(`session of carol (${carol.groups.length} groups): tokens ${tokens} bytes, cookies ${size} bytes in ${chunks.length} chunks`);
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.map((cookie) => cookie.name).sort()).toEqual(chunks.map((_, i) => `_portcullis_${i}`).sort());
    for (const chunk of chunks) expect(chunk.name.length + 1 + chunk.value.length).toBeLessThanOrEqual(4000);
    expect((await page.goto(`${siteA}/anything/big-again`))?.status()).toBe(200);

    // Chunks swapped or one missing: no session.
    const [first, second] = [chunks.find((c) => c.name === '_portcullis_0')!, chunks.find((c) => c.name === '_portcullis_1')!];
    await context.addCookies([{ ...first, value: `${first.value.slice(0, first.value.indexOf('~') + 1)}${second.value}` }, { ...second, value: first.value.slice(first.value.indexOf('~') + 1) }]);
    expect((await pageFetch(page, '/anything/swapped')).status).toBe(401);
    await context.addCookies([first, second]);
    expect((await pageFetch(page, '/anything/restored')).status).toBe(200);
    await context.clearCookies({ name: '_portcullis_1' });
    expect((await pageFetch(page, '/anything/missing-chunk')).status).toBe(401);

    // A smaller session (bob) afterwards leaves no stale chunk behind.
    await context.addCookies([first, second]);
    await page.goto(`${siteA}/oauth2/logout`);
    await signIn(page, `${siteA}/anything/small`, bob);
    const names = ourCookies((await context.cookies(siteA)).map((cookie) => cookie.name));
    expect(names.filter((name) => name.startsWith('_portcullis'))).toEqual(['_portcullis']);
  });

  it('logout clears the session at the proxy and at the provider: the next navigation shows the form', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/before-logout`, alice);
    const seen: string[] = [];
    page.on('request', (request) => seen.push(request.url()));
    const logsBefore = proxyA.logs.length;
    const response = await page.goto(`${siteA}/oauth2/logout`);
    // Through Cognito's /logout (client_id + logout_uri) to the post-logout page.
    const logout = seen.map((url) => new URL(url)).find((url) => url.origin === idp.origin && url.pathname === '/logout')!;
    expect(logout.searchParams.get('client_id')).toBe(idp.clients.web.clientId);
    expect(logout.searchParams.get('logout_uri')).toBe(`${siteA}/signed-out`);
    expect(page.url()).toBe(`${siteA}/signed-out`);
    expect(response?.status()).toBe(200);
    expect(ourCookies((await context.cookies(siteA)).map((cookie) => cookie.name))).toEqual([]);
    // Logged by the proxy during the logout; the line may reach us after the browser got there.
    await proxyA.waitForLog((line) => line.msg === 'refresh token revoked' && proxyA.logs.indexOf(line) >= logsBefore, 5_000);
    // The next navigation asks to sign in again: the provider's form, not a silent sign-in.
    await page.goto(`${siteA}/anything/after-logout`);
    expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
    await page.waitForSelector('#username');
  });

  it('logout revokes a cookie session: a copy of its cookies replayed afterwards is no session', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/before-replay`, alice);
    const kept = (await context.cookies(siteA)).filter((cookie) => /^_portcullis(_\d+)?$/.test(cookie.name));
    expect(kept.length).toBeGreaterThan(0);
    await page.goto(`${siteA}/oauth2/logout`);
    expect(page.url()).toBe(`${siteA}/signed-out`);
    // The copy, put back as a thief would: refused, though it unseals and has not expired.
    await context.addCookies(kept);
    const seenBefore = echo.requests.length;
    const logsBefore = proxyA.logs.length;
    const answer = await pageFetch(page, '/anything/replayed');
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body).error.code).toBe('SESSION_REQUIRED');
    await proxyA.waitForLog((line) => line.path === '/anything/replayed' && line.cause === 'SESSION_REVOKED' && proxyA.logs.indexOf(line) >= logsBefore);
    // Refused cookies are cleared; put back again, a navigation is sent to sign in.
    expect(ourCookies((await context.cookies(siteA)).map((cookie) => cookie.name))).toEqual([]);
    await context.addCookies(kept);
    await page.goto(`${siteA}/anything/replayed-page`);
    expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
    expect(echo.requests.length).toBe(seenBefore);
  });

  it('a forged, truncated or swapped cookie is no session', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/genuine`, alice);
    const genuine = (await context.cookies(siteA)).find((cookie) => cookie.name === '_portcullis')!;
    const flip = (value: string, i: number) => value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
    const otherContext = await newContext();
    const otherPage = await otherContext.newPage();
    await signIn(otherPage, `${siteA}/short/bob`, bob, shortIdp);
    const bobsShort = (await otherContext.cookies(siteA)).find((cookie) => cookie.name === '_short')!;

    const seenBefore = echo.requests.length;
    for (const [label, value] of [
      ['forged ciphertext', flip(genuine.value, 40)],
      ['forged tag', flip(genuine.value, genuine.value.length - 3)],
      ['truncated', genuine.value.slice(0, genuine.value.length - 30)],
      ['swapped in from another policy', bobsShort.value],
      ['garbage', 'not-a-session'],
    ] as const) {
      await context.addCookies([{ ...genuine, value }]);
      const answer = await pageFetch(page, '/anything/forged');
      expect({ label, status: answer.status }).toEqual({ label, status: 401 });
    }
    expect(echo.requests.length).toBe(seenBefore);
    // The genuine cookie back: signed in again.
    await context.addCookies([genuine]);
    expect((await pageFetch(page, '/anything/genuine-again')).status).toBe(200);
  });

  it('a session of one policy is no session on another, even with the same cookie name and Secret', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/mine`, alice);
    const seenBefore = echo.requests.length;
    const answer = await pageFetch(page, '/other/theirs');
    expect(answer.status).toBe(401);
    expect(echo.requests.length).toBe(seenBefore);
    // A navigation there is sent to the other policy's provider.
    await page.goto(`${siteA}/other/theirs`);
    expect(page.url().startsWith(`${otherIdp.origin}/interaction/`)).toBe(true);
  });

  it('a session sealed for one policy is refused by another sharing its issuer, client, Secret and cookie name', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/web`, alice);
    const seenBefore = echo.requests.length;
    const answer = await pageFetch(page, '/twin/api');
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body).error.code).toBe('SESSION_REQUIRED');
    expect(echo.requests.length).toBe(seenBefore);
    await proxyA.waitForLog((line) => line.policy === 'default/twin' && line.cause === 'SESSION_INVALID');
    // A navigation signs in to the twin on its own (the provider still knows alice): its own session.
    const twin = await page.goto(`${siteA}/twin/page`);
    expect(twin?.status()).toBe(200);
    expect(page.url()).toBe(`${siteA}/twin/page`);
    expect((await echoed(page)).headers['x-user-sub']).toBe(alice.sub);
    // One cookie name for both: the twin's session replaced web's, which is now no session at web.
    expect((await pageFetch(page, '/anything/web-again')).status).toBe(401);
  });
});

describe('logout from another site', () => {
  /** Pages of another origin: 127.0.0.1 on another port (same site, other origin), and localhost (another site). */
  let attacker: Server;
  let attackerPort: number;
  const pages = new Map<string, string>();
  beforeAll(async () => {
    attackerPort = await freePort();
    attacker = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(pages.get(req.url ?? '') ?? '');
    });
    await new Promise<void>((resolve) => attacker.listen(attackerPort, '127.0.0.1', resolve));
  });
  afterAll(() => attacker?.close());

  /** Signed in as alice at A; answers whether a fetch() from A's pages still gets through. */
  async function signedIn(): Promise<{ context: BrowserContext; page: Page; stillSignedIn: () => Promise<boolean> }> {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/anything/victim`, alice);
    const check = await context.newPage();
    await check.goto(`${siteA}/`);
    return { context, page, stillSignedIn: async () => (await pageFetch(check, '/anything/still')).status === 200 };
  }

  it('an <img> of the logout URL on another origin or site signs no one out', async () => {
    const { page, stillSignedIn } = await signedIn();
    pages.set('/img', `<!doctype html><title>cats</title><img src="${siteA}/oauth2/logout" onload="document.title='done'" onerror="document.title='done'">`);
    const logsBefore = proxyA.logs.length;
    for (const origin of [`http://127.0.0.1:${attackerPort}`, `http://localhost:${attackerPort}`]) {
      await page.goto(`${origin}/img`);
      await page.waitForFunction("document.title === 'done'");
      expect({ origin, signedIn: await stillSignedIn() }).toEqual({ origin, signedIn: true });
    }
    // Both reached the proxy (the same-site one with the session cookie), and were asked to confirm.
    // The access log is buffered: wait for both lines, not only the first.
    const logoutLines = () => proxyA.logs.slice(logsBefore).filter((line) => line.path === '/oauth2/logout');
    await proxyA.waitForLog(() => logoutLines().length >= 2);
    expect(logoutLines().map((line) => [line.status, line.reason])).toEqual([
      [200, 'LOGOUT_CONFIRM'],
      [200, 'LOGOUT_CONFIRM'],
    ]);
  });

  it('a form another origin posts asks to confirm; the confirm button signs out', async () => {
    const { context, page, stillSignedIn } = await signedIn();
    pages.set('/form', `<!doctype html><title>win</title><form method="post" action="${siteA}/oauth2/logout"></form><script>document.forms[0].submit()</script>`);
    await page.goto(`http://127.0.0.1:${attackerPort}/form`);
    await page.waitForURL(`${siteA}/oauth2/logout`);
    expect(await page.title()).toBe('Sign out?');
    expect(await page.locator('p').first().innerText()).toBe(`Do you want to sign out of ${new URL(siteA).host}?`);
    expect(await stillSignedIn()).toBe(true);

    // The user means it: the button posts from the proxy's own page, same origin.
    await Promise.all([page.waitForURL(`${siteA}/signed-out`), page.click('button[type=submit]')]);
    expect(await stillSignedIn()).toBe(false);
    expect(ourCookies((await context.cookies(siteA)).map((cookie) => cookie.name))).toEqual([]);
  });

  it('a link from another site asks to confirm; a link of the site itself signs out at once', async () => {
    const { page, stillSignedIn } = await signedIn();
    pages.set('/link', `<!doctype html><title>link</title><a href="${siteA}/oauth2/logout">free stuff</a>`);
    await page.goto(`http://localhost:${attackerPort}/link`);
    await Promise.all([page.waitForURL(`${siteA}/oauth2/logout`), page.click('a')]);
    expect(await page.title()).toBe('Sign out?');
    expect(await stillSignedIn()).toBe(true);
    // "Stay signed in" leaves, signed in.
    await Promise.all([page.waitForURL(`${siteA}/`), page.click('text=Stay signed in')]);
    expect(await stillSignedIn()).toBe(true);
    // A link on a page of the site (Sec-Fetch-Site: same-origin) needs no confirmation.
    await page.evaluate("document.body.insertAdjacentHTML('beforeend', '<a href=\"/oauth2/logout\">Sign out</a>')");
    await Promise.all([page.waitForURL(`${siteA}/signed-out`), page.click('text=Sign out')]);
    expect(await stillSignedIn()).toBe(false);
  });

  it('without Sec-Fetch-Site a GET asks, and so does HEAD; other methods get 405', async () => {
    const get = await rawRequest('GET', `${siteA}/oauth2/logout`, { accept: 'text/html' });
    expect(get.status).toBe(200);
    expect(get.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(get.headers['x-frame-options']).toBe('DENY');
    expect(get.headers['set-cookie']).toBeUndefined();
    expect(get.body).toContain('<form method="post" action="/oauth2/logout">');
    const head = await rawRequest('HEAD', `${siteA}/oauth2/logout`, {});
    expect([head.status, head.body]).toEqual([200, '']);
    const foreign = await rawRequest('POST', `${siteA}/oauth2/logout`, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(200);
    expect(foreign.body).toContain('Sign out?');
    const other = await rawRequest('DELETE', `${siteA}/oauth2/logout`, { accept: 'application/json' });
    expect(other.status).toBe(405);
    expect(other.headers.allow).toBe('GET, HEAD, POST');
    expect(JSON.parse(other.body).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

/** One request with node:http: no browser headers but those given. */
function rawRequest(method: string, url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('refresh failures and other providers', () => {
  it('a refresh the provider refuses ends the session: 401 for fetch(), cookies cleared', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/short/revoked`, bob, shortIdp);
    const kept = (await context.cookies(siteA)).find((cookie) => cookie.name === '_short')!;
    // Logout at A revokes the refresh token; the old cookie is then put back, as a stolen copy
    // would be, and shown to B: the processes share no Redis, so B does not know of the logout.
    await page.goto(`${siteA}/oauth2/logout`);
    // No postLogoutRedirectURL: the proxy's own signed-out page.
    expect(page.url()).toBe(`${siteA}/.well-known/portcullis/signed-out`);
    await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('You are signed out');
    await context.addCookies([kept]);
    await page.goto(`${siteB}/`);
    const before = shortIdp.tokenEndpointCalls().refresh_token ?? 0;
    const logsBefore = proxyB.logs.length;
    await sleep((SHORT_LIFETIME + 1) * 1000);
    const answer = await pageFetch(page, '/short/after-revocation');
    expect(answer.status).toBe(401);
    expect(shortIdp.tokenEndpointCalls().refresh_token ?? 0).toBe(before + 1);
    await proxyB.waitForLog((line) => line.msg === 'session refresh failed; the session ends' && proxyB.logs.indexOf(line) >= logsBefore, 5_000);
    expect((await context.cookies(siteB)).some((cookie) => cookie.name === '_short')).toBe(false);
  });

  it('a SameSite=Strict session still lands signed in: the callback continues through a same-site page', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${siteA}/strict/page?x=1`);
    await fillLoginForm(page, alice);
    await page.waitForURL(`${siteA}/strict/page?x=1`);
    expect((await echoed(page)).headers['x-user-sub']).toBe(alice.sub);
    expect((await context.cookies(siteA)).find((cookie) => cookie.name === '_strict')?.sameSite).toBe('Strict');
  });

  it('a Generic provider: identity from the ID token, logout through end_session_endpoint with id_token_hint', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, `${siteA}/generic/page`, alice);
    expect(page.url()).toBe(`${siteA}/generic/page`);
    const seen = await echoed(page);
    expect(seen.headers['x-user-sub']).toBe(alice.sub);
    expect(seen.headers['x-user-name']).toBe('alice');
    // A POST from no browser (no Origin, no Sec-Fetch-Site) signs out at once, as curl would.
    const response = await page.request.post(`${siteA}/generic/logout`, { maxRedirects: 0 });
    expect(response.status()).toBe(302);
    const location = new URL(response.headers().location!);
    expect(`${location.origin}${location.pathname}`).toBe(`${idp.origin}/logout`);
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${siteA}/.well-known/portcullis/signed-out`);
    expect(location.searchParams.get('client_id')).toBe(idp.clients.web.clientId);
    expect(location.searchParams.get('id_token_hint')).toMatch(/^eyJ/);
    expect((await context.cookies(siteA)).some((cookie) => cookie.name === '_generic')).toBe(false);
  });
});
