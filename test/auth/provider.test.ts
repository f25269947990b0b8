// The provider runtime against a real HTTP server on loopback that serves discovery and keys.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { createFetcher } from '../../src/auth/fetcher.ts';
import { createProvider } from '../../src/auth/provider.ts';
import { SYSTEM_TIMERS } from '../../src/time/timers.ts';

interface KeyServer {
  issuer: string;
  up: boolean;
  jwks: { keys: Record<string, unknown>[] };
  jwksFetches: number;
  server: Server;
}

async function startKeyServer(): Promise<KeyServer> {
  const state = { up: true, jwks: { keys: [] as Record<string, unknown>[] }, jwksFetches: 0 } as KeyServer;
  state.server = createServer((req, res) => {
    if (!state.up) {
      res.writeHead(503).end();
      return;
    }
    if (req.url === '/pool/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: state.issuer, jwks_uri: `${state.issuer}/.well-known/jwks.json`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/pool/.well-known/jwks.json') {
      state.jwksFetches++;
      res.end(JSON.stringify(state.jwks));
    } else res.writeHead(404).end();
  });
  state.server.listen(0, '127.0.0.1');
  await once(state.server, 'listening');
  state.issuer = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/pool`;
  return state;
}

async function rsaJWK(kid: string) {
  const { publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
}

let keyServer: KeyServer;
const fetcher = createFetcher({ caBundle: null });

beforeEach(async () => {
  keyServer = await startKeyServer();
  keyServer.jwks.keys = [await rsaJWK('k1')];
});
afterEach(() => keyServer.server.close());
afterAll(() => fetcher.close());

const start = (now: () => number) =>
  createProvider({ issuer: keyServer.issuer, discoveryURL: `${keyServer.issuer}/.well-known/openid-configuration`, fetchJSON: fetcher.fetchJSON, timers: { ...SYSTEM_TIMERS, now }, refreshMs: 600_000, retryMs: 50, maxRetryMs: 100 });

describe('provider runtime', () => {
  it('becomes ready with the discovery document and keys', async () => {
    const provider = start(Date.now);
    await provider.refresh();
    expect(provider.readiness()).toMatchObject({ ready: true, reason: 'Ready' });
    expect(await provider.key('k1')).not.toBeNull();
    provider.close();
  });

  it('keeps verifying with fetched keys while the provider is down, far past any cache age', async () => {
    let clock = Date.now();
    const provider = start(() => clock);
    await provider.refresh();
    keyServer.up = false;
    clock += 24 * 3_600_000; // a day later: jose's remote key set would have thrown by now
    await provider.refresh(); // fails
    expect(provider.readiness().ready).toBe(true);
    expect(await provider.key('k1')).not.toBeNull();
    provider.close();
  });

  it('is not ready while the provider is down at start, and recovers without a restart', async () => {
    keyServer.up = false;
    const provider = start(Date.now);
    await provider.refresh();
    expect(provider.readiness()).toMatchObject({ ready: false, reason: 'DiscoveryFailed' });
    expect(provider.readiness()).toMatchObject({ error: 'HTTP_UNAVAILABLE', message: expect.stringMatching(/failed: it answered HTTP 503 Service Unavailable\.$/) });
    keyServer.up = true;
    // The back-off retry (50 ms, then 100 ms) picks it up by itself.
    for (let i = 0; i < 50 && !provider.readiness().ready; i++) await new Promise((r) => setTimeout(r, 20));
    expect(provider.readiness().ready).toBe(true);
    provider.close();
  });

  it('refetches once for an unknown kid (rotation), then cools down', async () => {
    let clock = Date.now();
    const provider = start(() => clock);
    await provider.refresh();
    const fetchesAfterStart = keyServer.jwksFetches;
    keyServer.jwks.keys.push(await rsaJWK('k2'));
    expect(await provider.key('k2')).not.toBeNull(); // rotation picked up
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 1);
    // A flood of made-up kids inside the cool-down costs no fetch at all.
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => provider.key(`made-up-${i}`)));
    expect(results.every((key) => key === null)).toBe(true);
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 1);
    clock += 11_000;
    expect(await provider.key('made-up-again')).toBeNull();
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 2);
    provider.close();
  });

  it('deduplicates concurrent unknown-kid refetches', async () => {
    const provider = start(Date.now);
    await provider.refresh();
    const before = keyServer.jwksFetches;
    await Promise.all(Array.from({ length: 20 }, () => provider.key('unknown')));
    expect(keyServer.jwksFetches).toBe(before + 1);
    provider.close();
  });

  it('refuses a discovery document that names another issuer', async () => {
    const provider = createProvider({ issuer: `${keyServer.issuer}/other`, discoveryURL: `${keyServer.issuer}/.well-known/openid-configuration`, fetchJSON: fetcher.fetchJSON, retryMs: 10_000 });
    await provider.refresh();
    expect(provider.readiness()).toMatchObject({ ready: false, reason: 'DiscoveryFailed', error: 'ISSUER_MISMATCH' });
    // Both values, so the difference can be seen; the client learns only that they differ.
    expect(provider.readiness().message).toBe(
      `Discovery at ${keyServer.issuer}/.well-known/openid-configuration failed: the discovery document names the issuer "${keyServer.issuer}", but spec.issuer is "${keyServer.issuer}/other".`,
    );
    expect(provider.readiness()).toMatchObject({ publicMessage: `The identity provider's discovery document names another issuer than ${keyServer.issuer}/other.` });
    provider.close();
  });

  it('says when the issuers differ only by a trailing slash', async () => {
    const provider = createProvider({ issuer: `${keyServer.issuer}/`, discoveryURL: `${keyServer.issuer}/.well-known/openid-configuration`, fetchJSON: fetcher.fetchJSON, retryMs: 10_000 });
    await provider.refresh();
    expect(provider.readiness().message).toMatch(/but spec\.issuer is "[^"]+\/"; they differ only by a trailing slash\.$/);
    provider.close();
  });

  it('says which document failed, and tells clients what is true without the cause', async () => {
    keyServer.jwks.keys = [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }];
    const keysUnusable = start(Date.now);
    await keysUnusable.refresh();
    expect(keysUnusable.readiness()).toMatchObject({
      ready: false,
      reason: 'JWKSFailed',
      error: 'NO_USABLE_KEY',
      message: `Fetching the keys at ${keyServer.issuer}/.well-known/jwks.json failed: the key set lists 1 key(s), none of them a public signing key Portcullis can use.`,
      publicMessage: "The signing keys of this route's identity provider could not be read.",
    });
    keysUnusable.close();

    keyServer.up = false; // 503: unavailable for now
    const down = start(Date.now);
    await down.refresh();
    expect(down.readiness()).toMatchObject({ publicMessage: 'The identity provider of this route is not reachable yet.' });
    down.close();

    const wrongPath = createProvider({ issuer: keyServer.issuer, discoveryURL: `${keyServer.issuer}/nothing-here`, fetchJSON: fetcher.fetchJSON, retryMs: 10_000 });
    keyServer.up = true;
    await wrongPath.refresh();
    expect(wrongPath.readiness()).toMatchObject({ error: 'HTTP_STATUS', publicMessage: 'The identity provider of this route does not serve a usable discovery document.' });
    wrongPath.close();
  });

  it('never shows the user name or password of a URL', async () => {
    const discoveryURL = `http://user:hunter2@127.0.0.1:1/.well-known/openid-configuration`;
    const provider = createProvider({ issuer: keyServer.issuer, discoveryURL, fetchJSON: fetcher.fetchJSON, retryMs: 10_000 });
    await provider.refresh();
    expect(provider.readiness()).toMatchObject({ ready: false, reason: 'DiscoveryFailed' });
    expect(provider.readiness().message).toMatch(/^Discovery at http:\/\/127\.0\.0\.1:1\/\.well-known\/openid-configuration failed: /);
    expect(JSON.stringify(provider.readiness())).not.toMatch(/hunter2|user:/);
    provider.close();
  });

  it('ignores symmetric and private keys in the key set', async () => {
    keyServer.jwks.keys = [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }, await rsaJWK('k1')];
    const provider = start(Date.now);
    await provider.refresh();
    expect(await provider.key('hmac')).toBeNull();
    expect(await provider.key('k1')).not.toBeNull();
    provider.close();
  });
});
