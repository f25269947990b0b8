// The Redis session store, with a real redis-server (Debian's) started by this test: tokens stay
// server-side, the browser holds only a sealed opaque id; logout deletes the server-side copy;
// Redis down is a 503, not a sign-in loop.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createClient } from 'redis';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { bigUser, echoed, fillLoginForm, freePort, launchChromium, policyYAML, secretYAML, startRedis, type RedisServer } from './support.ts';

jest.setTimeout(90_000);

const alice = DEMO_USERS[0]!;
const carol = bigUser();
const PREFIX = 'test:sessions:';

let browser: Browser;
let echo: EchoServer;
let idp: CognitoLikeProvider;
let redis: RedisServer;
let proxy: PortcullisProcess;
let site: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  const port = await freePort();
  site = `http://127.0.0.1:${port}`;
  redis = await startRedis();
  [browser, echo, idp] = await Promise.all([
    launchChromium(),
    startEchoServer(),
    startCognitoLikeProvider({ users: [...DEMO_USERS, carol], webClient: { redirectURIs: [`${site}/oauth2/callback`], logoutURIs: [`${site}/`, `${site}/.well-known/portcullis/signed-out`] } }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
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
      store: Redis
      redis: {address: "${redis.address}", keyPrefix: "${PREFIX}"}
  forward: {headers: {X-User-Sub: sub, X-User-Groups: "cognito:groups"}}`) +
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
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${port}`]);
  await proxy.waitForLog((line) => line.policy === 'default/web' && line.condition === 'Ready' && line.status === 'True');
  context = await browser.newContext();
  page = await context.newPage();
});

afterAll(async () => {
  await context?.close();
  await proxy?.stop();
  await browser?.close();
  await Promise.all([echo?.close(), idp?.close(), redis?.stop()]);
});

async function sessionKeys(): Promise<string[]> {
  const client = createClient({ url: `redis://${redis.address}` });
  await client.connect();
  try {
    return await client.keys(`${PREFIX}*`);
  } finally {
    client.destroy();
  }
}

async function ttlOf(key: string): Promise<number> {
  const client = createClient({ url: `redis://${redis.address}` });
  await client.connect();
  try {
    return await client.pTTL(key);
  } finally {
    client.destroy();
  }
}

const sessionCookie = async () => (await context.cookies(site)).filter((cookie) => /^_portcullis(_\d+)?$/.test(cookie.name));

it('keeps the tokens in Redis and only a small sealed id in the cookie, even for a large session', async () => {
  await page.goto(`${site}/anything/big`);
  expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
  await fillLoginForm(page, carol);
  expect(page.url()).toBe(`${site}/anything/big`);
  const seen = await echoed(page);
  expect(seen.headers['x-user-sub']).toBe(carol.sub);
  expect(seen.headers['x-user-groups']!.split(',')).toEqual(carol.groups);
  const cookies = await sessionCookie();
  expect(cookies.map((cookie) => cookie.name)).toEqual(['_portcullis']);
  console.log(`Redis session cookie for carol: ${cookies[0]!.name.length + 1 + cookies[0]!.value.length} bytes`);
  expect(cookies[0]!.value.length).toBeLessThan(200);
  const keys = await sessionKeys();
  expect(keys).toHaveLength(1);
  // The TTL is the idle timeout (8h by default), never longer than the absolute one.
  const ttl = await ttlOf(keys[0]!);
  expect(ttl).toBeGreaterThan(7 * 3_600_000);
  expect(ttl).toBeLessThanOrEqual(8 * 3_600_000);
  expect((await page.goto(`${site}/anything/again`))?.status()).toBe(200);
});

it('a tampered id cookie is no session, and never reaches the upstream', async () => {
  const [cookie] = await sessionCookie();
  const seenBefore = echo.requests.length;
  await context.addCookies([{ ...cookie!, value: cookie!.value.slice(0, -4) + (cookie!.value.endsWith('AAAA') ? 'BBBB' : 'AAAA') }]);
  const status = await page.evaluate(async () => (await fetch('/anything/tampered', { headers: { accept: 'application/json' } })).status);
  expect(status).toBe(401);
  expect(echo.requests.length).toBe(seenBefore);
  await context.addCookies([cookie!]);
  expect(await page.evaluate(async () => (await fetch('/anything/restored')).status)).toBe(200);
});

it('Redis down is a 503 for the request, not a sign-in loop; back up, the session is still there', async () => {
  redis.process.kill('SIGSTOP');
  try {
    const started = Date.now();
    const status = await page.evaluate(async () => (await fetch('/anything/redis-down', { headers: { accept: 'application/json' } })).status);
    expect(status).toBe(503);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    redis.process.kill('SIGCONT');
  }
  // The client reconnects on its own.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = await page.evaluate(async () => (await fetch('/anything/redis-up')).status);
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(status).toBe(200);
});

it('logout deletes the server-side session and clears the cookie', async () => {
  expect(await sessionKeys()).toHaveLength(1);
  await page.goto(`${site}/oauth2/logout`);
  expect(page.url()).toBe(`${site}/.well-known/portcullis/signed-out`);
  expect(await sessionKeys()).toEqual([]);
  expect(await sessionCookie()).toEqual([]);
  await page.goto(`${site}/anything/after`);
  expect(page.url().startsWith(`${idp.origin}/interaction/`)).toBe(true);
  await fillLoginForm(page, alice);
  expect((await echoed(page)).headers['x-user-sub']).toBe(alice.sub);
});
