// Logged-out cookie sessions, refused by every replica: two `portcullis standalone` processes share
// a session key Secret and a Redis for revocations (spec.browser.session.redis with the cookie
// store; Debian's redis-server, started by this test). A session logged out at A is refused at B.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { Browser, BrowserContext } from 'playwright-core';
import { createClient } from 'redis';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { fillLoginForm, freePort, launchChromium, policyYAML, secretYAML, startRedis, type RedisServer } from './support.ts';

jest.setTimeout(90_000);

const [alice, bob] = [DEMO_USERS[0]!, DEMO_USERS[1]!];
const PREFIX = 'test:revoked:';

let browser: Browser;
let echo: EchoServer;
let idp: CognitoLikeProvider;
let redis: RedisServer;
let proxyA: PortcullisProcess;
let proxyB: PortcullisProcess;
let siteA: string;
let siteB: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  siteA = `http://127.0.0.1:${portA}`;
  siteB = `http://127.0.0.1:${portB}`;
  redis = await startRedis();
  [browser, echo, idp] = await Promise.all([
    launchChromium(),
    startEchoServer(),
    startCognitoLikeProvider({ webClient: { redirectURIs: [`${siteA}/oauth2/callback`, `${siteB}/oauth2/callback`], logoutURIs: [`${siteA}/`, `${siteB}/`, `${siteA}/.well-known/portcullis/signed-out`, `${siteB}/.well-known/portcullis/signed-out`] } }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-revocations-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    secretYAML('keys', { 'session-keys': randomBytes(32).toString('base64url'), web: idp.clients.web.clientSecret }) +
      policyYAML('web', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: keys, key: web}
  browser:
    session:
      secretRef: {name: keys, key: session-keys}
      idleTimeout: 1h
      absoluteTimeout: 1h
      redis: {address: "${redis.address}", keyPrefix: "${PREFIX}"}
  forward: {headers: {X-User-Sub: sub}}`) +
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: echo}
spec:
  rules:
    - matches: [{path: {value: /anything}}]
      policyRef: {name: web}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {type: Exact, value: /}}]
      public: true
      backends: [{url: "${echo.url}"}]
`,
  );
  [proxyA, proxyB] = await Promise.all([
    startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${portA}`]),
    startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${portB}`]),
  ]);
  for (const proxy of [proxyA, proxyB]) await proxy.waitForLog((line) => line.policy === 'default/web' && line.condition === 'Ready' && line.status === 'True');
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await Promise.all([proxyA?.stop(), proxyB?.stop()]);
  await browser?.close();
  await Promise.all([echo?.close(), idp?.close(), redis?.stop()]);
});

function redisClient() {
  return createClient({ url: `redis://${redis.address}` });
}

async function inRedis<T>(use: (client: ReturnType<typeof redisClient>) => Promise<T>): Promise<T> {
  const client = redisClient();
  await client.connect();
  try {
    return await use(client);
  } finally {
    client.destroy();
  }
}

/** A browser signed in as `user` through A; its session cookies; a fetch() from a page of B. */
async function signedIn(user: { username: string; password: string }) {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${siteA}/anything/sign-in`);
  expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
  await fillLoginForm(page, user);
  expect(page.url()).toBe(`${siteA}/anything/sign-in`);
  const cookies = (await context.cookies(siteA)).filter((cookie) => /^_portcullis(_\d+)?$/.test(cookie.name));
  expect(cookies.length).toBeGreaterThan(0);
  const atB = await context.newPage();
  await atB.goto(`${siteB}/`);
  const fetchAtB = (path: string) => atB.evaluate(async (target) => (await fetch(target, { headers: { accept: 'application/json' } })).status, path);
  return { context, page, cookies, fetchAtB };
}

it('a session logged out at one process is refused by the other, which shares the Redis for revocations', async () => {
  const { context, page, cookies, fetchAtB } = await signedIn(alice);
  expect(await fetchAtB('/anything/before')).toBe(200);
  // Nothing in Redis while nobody logs out: sessions stay in their cookies.
  expect(await inRedis((client) => client.keys(`${PREFIX}*`))).toEqual([]);

  await page.goto(`${siteA}/oauth2/logout`);
  expect(page.url()).toBe(`${siteA}/.well-known/portcullis/signed-out`);
  // One key, the session's id, kept until the session's absolute timeout (1h from sign-in).
  const keys = await inRedis((client) => client.keys(`${PREFIX}*`));
  expect(keys).toHaveLength(1);
  expect(keys[0]).toMatch(new RegExp(`^${PREFIX}[A-Za-z0-9_-]{22}$`));
  const ttl = await inRedis((client) => client.pTTL(keys[0]!));
  expect(ttl).toBeGreaterThan(3_500_000);
  expect(ttl).toBeLessThanOrEqual(3_600_000);

  // The cookies, put back as a copy would be: refused at B, which never saw the logout, and at A.
  const seenBefore = echo.requests.length;
  const logsBefore = proxyB.logs.length;
  await context.addCookies(cookies);
  expect(await fetchAtB('/anything/replayed')).toBe(401);
  await proxyB.waitForLog((line) => line.path === '/anything/replayed' && line.cause === 'SESSION_REVOKED' && proxyB.logs.indexOf(line) >= logsBefore);
  await context.addCookies(cookies);
  await page.goto(`${siteA}/anything/replayed-at-a`);
  expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
  expect(echo.requests.length).toBe(seenBefore);
});

it('other sessions are not affected; Redis down is a 503 at the process that must ask it, not a pass', async () => {
  const { fetchAtB } = await signedIn(bob);
  expect(await fetchAtB('/anything/bob')).toBe(200);
  redis.process.kill('SIGSTOP');
  try {
    const started = Date.now();
    // Fail closed: without Redis, B cannot tell whether the session was logged out elsewhere.
    expect(await fetchAtB('/anything/redis-down')).toBe(503);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    redis.process.kill('SIGCONT');
  }
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = await fetchAtB('/anything/redis-up');
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(status).toBe(200);
});
