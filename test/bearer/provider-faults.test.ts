// The provider going away and coming back, with the proxy as its own process.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let echo: EchoServer;

beforeAll(async () => {
  echo = await startEchoServer();
});
afterAll(() => echo.close());

async function serve(mint: CognitoMint, other?: CognitoMint): Promise<PortcullisProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-faults-'));
  const policy = (name: string, m: CognitoMint) => `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: ${name}}
spec: {issuer: "${m.issuer}", provider: Cognito, clientID: "${m.clientIds.machine}", bearer: {}}
---
`;
  writeFileSync(
    join(dir, 'manifests.yaml'),
    policy('machines', mint) +
      (other ? policy('other', other) : '') +
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api}
spec:
  rules:
    - matches: [{path: {value: /m2m}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
${other ? `    - matches: [{path: {value: /other}}]\n      policyRef: {name: other}\n      backends: [{url: "${echo.url}"}]\n` : ''}    - matches: [{path: {value: /public}}]
      backends: [{url: "${echo.url}"}]
`,
  );
  // Refetch every second, so "beyond the key cache age" takes seconds, not ten minutes.
  return startPortcullis(['standalone', '-f', dir, '--provider-refresh', '1s']);
}

const call = async (proxy: PortcullisProcess, path: string, token?: string) => {
  const response = await fetch(`${proxy.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = (await response.json()) as { error?: { code: string; message: string } };
  return { status: response.status, code: body.error?.code, message: body.error?.message };
};

describe('provider faults', () => {
  it('keeps verifying with the keys it has while the provider is down, well past the refresh age', async () => {
    const mint = await startCognitoMint();
    const proxy = await serve(mint);
    try {
      await proxy.waitForLog((l) => l.policy === 'default/machines' && l.status === 'True');
      const token = mint.mint();
      expect((await call(proxy, '/m2m/x', token)).status).toBe(200);
      mint.down();
      const fetchesBefore = mint.metadataFetches().discovery;
      await sleep(3500); // three refresh periods, each failing
      expect(mint.metadataFetches().discovery).toBeGreaterThan(fetchesBefore);
      expect((await call(proxy, '/m2m/x', token)).status).toBe(200);
      expect((await call(proxy, '/m2m/x', mint.mint({ sub: 'fresh' }))).status).toBe(200); // a new token, same key
      expect(await call(proxy, '/m2m/x', mint.mint({}, { kid: 'dW5rbm93bg==' }))).toMatchObject({ status: 401, code: 'TOKEN_KID_UNKNOWN' });
    } finally {
      await proxy.stop();
      await mint.close();
    }
  });

  it('answers 503 while the provider is down at start, reports Ready=False, and recovers without a restart', async () => {
    const mint = await startCognitoMint();
    const healthy = await startCognitoMint();
    mint.down();
    const proxy = await serve(mint, healthy);
    try {
      const notReady = await proxy.waitForLog((l) => l.policy === 'default/machines' && l.condition === 'Ready' && l.status === 'False');
      expect(notReady).toMatchObject({ reason: 'DiscoveryFailed', error: 'HTTP_UNAVAILABLE', level: 'warn' });
      expect(String(notReady.msg)).toMatch(/^Discovery at http:\/\/127\.0\.0\.1:\d+\/us-east-1_Mint12345\/\.well-known\/openid-configuration failed: it answered HTTP 503 Service Unavailable\.$/);
      expect(await call(proxy, '/m2m/x', mint.mint())).toEqual({ status: 503, code: 'POLICY_NOT_READY', message: 'The identity provider of this route is not reachable yet.' });
      // Other routes are unaffected.
      await proxy.waitForLog((l) => l.policy === 'default/other' && l.status === 'True');
      expect((await call(proxy, '/other/x', healthy.mint())).status).toBe(200);
      expect((await call(proxy, '/public/x')).status).toBe(200);
      mint.up();
      await proxy.waitForLog((l) => l.policy === 'default/machines' && l.condition === 'Ready' && l.status === 'True', 10_000);
      expect((await call(proxy, '/m2m/x', mint.mint())).status).toBe(200);
    } finally {
      await proxy.stop();
      await Promise.all([mint.close(), healthy.close()]);
    }
  });

  it('picks up a rotated key on the first token signed with it', async () => {
    const mint = await startCognitoMint();
    const proxy = await serve(mint);
    try {
      await proxy.waitForLog((l) => l.policy === 'default/machines' && l.status === 'True');
      const oldToken = mint.mint();
      expect((await call(proxy, '/m2m/x', oldToken)).status).toBe(200);
      const kid = await mint.rotateKey();
      const newToken = mint.mint();
      expect(JSON.parse(Buffer.from(newToken.split('.')[0]!, 'base64url').toString()).kid).toBe(kid);
      expect((await call(proxy, '/m2m/x', newToken)).status).toBe(200);
      expect((await call(proxy, '/m2m/x', oldToken)).status).toBe(200); // the old key is still published
    } finally {
      await proxy.stop();
      await mint.close();
    }
  });

  it('during a flood of made-up kids, a key rotated in answers 200 within 2 s, the provider sees at most 12 key fetches in 10 s, and the new key keeps working through an outage', async () => {
    const mint = await startCognitoMint();
    const proxy = await serve(mint); // the key set refreshed every second as well: the limit holds for all fetches together
    try {
      await proxy.waitForLog((l) => l.policy === 'default/machines' && l.status === 'True');
      const fetchesBefore = mint.metadataFetches().jwks;
      const floodStarted = Date.now();
      const answers = new Map<string, number>();
      let n = 0;
      // 50 made-up kids at a time, each distinct, for 10 s.
      const flood = (async () => {
        while (Date.now() - floodStarted < 10_000) {
          const batch = await Promise.all(Array.from({ length: 50 }, () => call(proxy, '/m2m/x', mint.mint({}, { kid: Buffer.from(`made-up-${n++}`).toString('base64') }))));
          for (const answer of batch) answers.set(`${answer.status} ${answer.code}`, (answers.get(`${answer.status} ${answer.code}`) ?? 0) + 1);
        }
      })();
      await sleep(3_000);
      const kid = await mint.rotateKey();
      const rotated = mint.mint();
      expect(JSON.parse(Buffer.from(rotated.split('.')[0]!, 'base64url').toString()).kid).toBe(kid);
      const asked = Date.now();
      const first = await call(proxy, '/m2m/x', rotated);
      const tookMs = Date.now() - asked;
      expect(first.status).toBe(200);
      expect(tookMs).toBeLessThan(2_000);
      await sleep(floodStarted + 10_000 - Date.now());
      const fetchesIn10s = mint.metadataFetches().jwks - fetchesBefore;
      await flood;
      expect(fetchesIn10s).toBeLessThanOrEqual(12);
      expect(n).toBeGreaterThanOrEqual(250);
      expect(Object.fromEntries(answers)).toEqual({ '401 TOKEN_KID_UNKNOWN': n });

      // Stale-if-error: once fetched, the rotated key verifies through an outage, well past the refresh age.
      mint.down();
      const failedBefore = mint.metadataFetches().discovery;
      await sleep(3_500);
      expect(mint.metadataFetches().discovery).toBeGreaterThan(failedBefore);
      expect((await call(proxy, '/m2m/x', rotated)).status).toBe(200);
      expect((await call(proxy, '/m2m/x', mint.mint({ sub: 'fresh', jti: 'never-seen' }))).status).toBe(200); // no cached signature to lean on
      expect(await call(proxy, '/m2m/x', mint.mint({}, { kid: 'bWFkZS11cC1pbi1vdXRhZ2U=' }))).toMatchObject({ status: 401, code: 'TOKEN_KID_UNKNOWN' });
    } finally {
      await proxy.stop();
      await mint.close();
    }
  }, 30_000);

  it('logs Degraded while refreshing fails on cached keys, with the keys and last fetch, and says when it recovers', async () => {
    const mint = await startCognitoMint();
    const proxy = await serve(mint);
    try {
      const ready = await proxy.waitForLog((l) => l.policy === 'default/machines' && l.condition === 'Ready' && l.status === 'True');
      expect(ready).toMatchObject({ keys: 2, lastFetchTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      mint.down();
      const degraded = await proxy.waitForLog((l) => l.policy === 'default/machines' && l.condition === 'Degraded' && l.status === 'True', 10_000);
      expect(degraded).toMatchObject({ level: 'warn', reason: 'RefreshFailing', error: 'HTTP_UNAVAILABLE', keys: 2, lastFetchTime: expect.any(String) });
      expect(degraded.msg).toBe(
        `Refreshing the provider's discovery document and keys fails: Discovery at ${mint.discoveryURL} failed: it answered HTTP 503 Service Unavailable. The 2 signing key(s) fetched before keep verifying tokens.`,
      );
      expect((await call(proxy, '/m2m/x', mint.mint())).status).toBe(200);
      mint.up();
      const recovered = await proxy.waitForLog((l) => l.policy === 'default/machines' && l.condition === 'Degraded' && l.status === 'False', 10_000);
      expect(recovered).toMatchObject({ level: 'info', reason: 'RefreshSucceeded', keys: 2 });
      // Said once each way, not at every failed or successful refresh.
      await sleep(1_500);
      expect(proxy.logs.filter((l) => l.condition === 'Degraded').map((l) => l.status)).toEqual(['True', 'False']);
    } finally {
      await proxy.stop();
      await mint.close();
    }
  }, 30_000);

  it('says why a provider is not ready: the cause in the log, what is true in the 503 body', async () => {
    const mint = await startCognitoMint();
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const refusedPort = (closed.address() as AddressInfo).port;
    closed.close();
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-causes-'));
    // A Generic issuer with a slash the provider's document does not have, and a provider that is not there.
    writeFileSync(
      join(dir, 'manifests.yaml'),
      `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: slashed}
spec: {issuer: "${mint.issuer}/", provider: Generic, clientID: "${mint.clientIds.machine}", bearer: {}}
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: nowhere}
spec: {issuer: "http://127.0.0.1:${refusedPort}/us-east-1_Gone12345", clientID: "${mint.clientIds.machine}", bearer: {}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api}
spec:
  rules:
    - matches: [{path: {value: /slashed}}]
      policyRef: {name: slashed}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /nowhere}}]
      policyRef: {name: nowhere}
      backends: [{url: "${echo.url}"}]
`,
    );
    const proxy = await startPortcullis(['standalone', '-f', dir]);
    try {
      const mismatch = await proxy.waitForLog((l) => l.policy === 'default/slashed' && l.condition === 'Ready' && l.status === 'False');
      expect(mismatch).toMatchObject({ reason: 'DiscoveryFailed', error: 'ISSUER_MISMATCH' });
      expect(mismatch.msg).toBe(
        `Discovery at ${mint.issuer}/.well-known/openid-configuration failed: the discovery document names the issuer "${mint.issuer}", but spec.issuer is "${mint.issuer}/"; they differ only by a trailing slash.`,
      );
      expect(await call(proxy, '/slashed/x', mint.mint())).toEqual({
        status: 503,
        code: 'POLICY_NOT_READY',
        message: `The identity provider's discovery document names another issuer than ${mint.issuer}/.`,
      });

      const refused = await proxy.waitForLog((l) => l.policy === 'default/nowhere' && l.condition === 'Ready' && l.status === 'False');
      expect(refused).toMatchObject({ reason: 'DiscoveryFailed', error: 'CONNECTION_REFUSED' });
      expect(refused.msg).toBe(`Discovery at http://127.0.0.1:${refusedPort}/us-east-1_Gone12345/.well-known/openid-configuration failed: connection refused (ECONNREFUSED 127.0.0.1:${refusedPort}).`);
      expect(await call(proxy, '/nowhere/x', mint.mint())).toEqual({ status: 503, code: 'POLICY_NOT_READY', message: 'The identity provider of this route is not reachable yet.' });
      expect(proxy.logs.some((l) => /fetch failed/.test(JSON.stringify(l)))).toBe(false);
    } finally {
      await proxy.stop();
      await mint.close();
    }
  });
});
