// The provider runtime against a real HTTP server on loopback that serves discovery and keys.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { createFetcher } from '../../src/auth/fetcher.ts';
import { createProvider, degradation } from '../../src/auth/provider.ts';
import { SYSTEM_TIMERS } from '../../src/time/timers.ts';

interface KeyServer {
  issuer: string;
  up: boolean;
  jwks: { keys: Record<string, unknown>[] };
  jwksFetches: number;
  /** When each key set request arrived (Date.now()). */
  jwksFetchTimes: number[];
  /** How long the key set takes to answer; it answers the keys as they were when asked. */
  jwksDelayMs: number;
  server: Server;
}

async function startKeyServer(): Promise<KeyServer> {
  const state = { up: true, jwks: { keys: [] as Record<string, unknown>[] }, jwksFetches: 0, jwksFetchTimes: [] as number[], jwksDelayMs: 0 } as KeyServer;
  state.server = createServer((req, res) => {
    if (!state.up) {
      res.writeHead(503).end();
      return;
    }
    if (req.url === '/pool/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: state.issuer, jwks_uri: `${state.issuer}/.well-known/jwks.json`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/pool/.well-known/jwks.json') {
      state.jwksFetches++;
      state.jwksFetchTimes.push(Date.now());
      const body = JSON.stringify(state.jwks);
      setTimeout(() => res.end(body), state.jwksDelayMs);
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

  it('refetches for an unknown kid (rotation), and refuses that kid again without a fetch for 10 s', async () => {
    let offset = 0;
    const provider = start(() => Date.now() + offset);
    await provider.refresh();
    const fetchesAfterStart = keyServer.jwksFetches;
    keyServer.jwks.keys.push(await rsaJWK('k2'));
    expect(await provider.key('k2')).not.toBeNull(); // rotation picked up
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 1);

    const made = await provider.key('made-up');
    expect(made).toBeNull();
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 2);
    // The same kid again, inside its cool-down: refused at once, no fetch.
    const started = Date.now();
    expect(await Promise.all(Array.from({ length: 20 }, () => provider.key('made-up')))).toEqual(Array(20).fill(null));
    expect(Date.now() - started).toBeLessThan(200);
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 2);
    offset += 11_000; // past the cool-down: that kid may ask once more
    expect(await provider.key('made-up')).toBeNull();
    expect(keyServer.jwksFetches).toBe(fetchesAfterStart + 3);
    provider.close();
  });

  it('shares one refetch among every unknown kid that arrives before it starts', async () => {
    const provider = start(Date.now);
    await provider.refresh();
    const before = keyServer.jwksFetches;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => provider.key(`made-up-${i}`)));
    expect(results.every((key) => key === null)).toBe(true);
    expect(keyServer.jwksFetches).toBe(before + 1);
    provider.close();
  });

  it('spaces refetches for unknown kids a second apart, so a flood costs one fetch a second and a rotated key is found within about a second', async () => {
    const provider = start(Date.now);
    await provider.refresh();
    const before = keyServer.jwksFetches;
    const flooding = Date.now();
    let n = 0;
    // Distinct made-up kids, 20 at a time, for 3.5 s.
    const flood = (async () => {
      while (Date.now() - flooding < 3_500) await Promise.all(Array.from({ length: 20 }, () => provider.key(`flood-${n++}`)));
    })();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    keyServer.jwks.keys.push(await rsaJWK('rotated'));
    const asked = Date.now();
    expect(await provider.key('rotated')).not.toBeNull();
    const tookMs = Date.now() - asked;
    await flood;
    expect(tookMs).toBeLessThan(1_500);
    expect(n).toBeGreaterThanOrEqual(60); // every batch waited for a fetch of its own
    const times = keyServer.jwksFetchTimes.slice(before);
    // One at start (within the first second), then at most one a second.
    expect(times.length).toBeGreaterThanOrEqual(3);
    expect(times.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(950);
    provider.close();
  });

  it('does not rely on a fetch that started before the unknown kid arrived: the key may have been published since', async () => {
    const provider = start(Date.now);
    await provider.refresh();
    keyServer.jwksDelayMs = 300;
    const periodic = provider.refresh(); // under way with the old key set
    await new Promise((resolve) => setTimeout(resolve, 100));
    keyServer.jwks.keys.push(await rsaJWK('published-meanwhile'));
    const before = keyServer.jwksFetches;
    expect(await provider.key('published-meanwhile')).not.toBeNull();
    expect(keyServer.jwksFetches).toBe(before + 1);
    await periodic;
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

  it('reports its health: keys, last fetch, last error, and degraded while a refresh fails on cached keys', async () => {
    let offset = 0;
    let changes = 0;
    const provider = createProvider({
      issuer: keyServer.issuer,
      discoveryURL: `${keyServer.issuer}/.well-known/openid-configuration`,
      fetchJSON: fetcher.fetchJSON,
      timers: { ...SYSTEM_TIMERS, now: () => Date.now() + offset },
      refreshMs: 600_000,
      retryMs: 600_000,
      onHealthChange: () => changes++,
    });
    expect(provider.health()).toEqual({ keys: 0, lastFetchTime: null, lastError: null, degraded: false });
    await provider.refresh();
    const fetched = provider.health();
    expect(fetched).toEqual({ keys: 1, lastFetchTime: expect.any(Number), lastError: null, degraded: false });
    expect(Math.abs(fetched.lastFetchTime! - Date.now())).toBeLessThan(1_000);
    expect(degradation(fetched)).toEqual({ degraded: false, reason: 'RefreshSucceeded', message: "The last refresh of the provider's discovery document and keys succeeded: 1 signing key(s)." });
    const afterFirst = changes;
    expect(afterFirst).toBeGreaterThan(0);

    // Another success soon after: nothing shown changes (no status write), the time included.
    offset += 5_000;
    await provider.refresh();
    expect(provider.health()).toBe(fetched);
    expect(changes).toBe(afterFirst);

    // The provider goes down: still ready on the cached keys, but degraded, with the error.
    keyServer.up = false;
    await provider.refresh();
    expect(provider.readiness().ready).toBe(true);
    const degraded = provider.health();
    // News shows the times as they are: the last fetch is the second one, which alone was not worth a write.
    expect(degraded.lastFetchTime!).toBeGreaterThanOrEqual(fetched.lastFetchTime! + 5_000);
    expect(degraded).toMatchObject({ keys: 1, degraded: true, lastError: { code: 'HTTP_UNAVAILABLE', message: `Discovery at ${keyServer.issuer}/.well-known/openid-configuration failed: it answered HTTP 503 Service Unavailable.` } });
    expect(degradation(degraded)).toEqual({
      degraded: true,
      reason: 'RefreshFailing',
      message: `Refreshing the provider's discovery document and keys fails: Discovery at ${keyServer.issuer}/.well-known/openid-configuration failed: it answered HTTP 503 Service Unavailable. The 1 signing key(s) fetched before keep verifying tokens.`,
    });
    expect(changes).toBe(afterFirst + 1);
    expect(await provider.key('k1')).not.toBeNull();
    // The same failure again: no change to show.
    await provider.refresh();
    expect(provider.health()).toBe(degraded);

    // Back: no longer degraded; the last error stays, older than the last fetch.
    keyServer.up = true;
    offset += 5_000;
    await provider.refresh();
    const recovered = provider.health();
    expect(recovered).toMatchObject({ keys: 1, degraded: false, lastError: { code: 'HTTP_UNAVAILABLE', message: degraded.lastError!.message } });
    expect(recovered.lastError!.time).toBeGreaterThanOrEqual(degraded.lastError!.time); // the second failure's time, now that there is news
    expect(recovered.lastFetchTime!).toBeGreaterThan(recovered.lastError!.time);
    expect(changes).toBe(afterFirst + 2);

    // A refresh period later, the last fetch time moves on.
    offset += 600_000;
    await provider.refresh();
    expect(provider.health().lastFetchTime!).toBeGreaterThanOrEqual(recovered.lastFetchTime! + 600_000);
    expect(changes).toBe(afterFirst + 3);

    // A new key is news at once.
    keyServer.jwks.keys.push(await rsaJWK('k2'));
    await provider.refresh();
    expect(provider.health().keys).toBe(2);
    expect(changes).toBe(afterFirst + 4);
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
    // Nor does the last error that status.provider and the Degraded condition show.
    expect(provider.health().lastError).toMatchObject({ code: 'URL_INVALID', message: expect.stringMatching(/^Discovery at http:\/\/127\.0\.0\.1:1\//) });
    expect(JSON.stringify(provider.health())).not.toMatch(/hunter2|user:/);
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
