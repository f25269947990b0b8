// The verifier and its signature cache, in process, against the local Cognito-shaped key server.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authorize } from '../../src/auth/authorize.ts';
import { createFetcher } from '../../src/auth/fetcher.ts';
import { createProvider, type Provider } from '../../src/auth/provider.ts';
import { createSignatureCache, decodeToken, MAX_TOKEN_ENDPOINT_TOKEN_LENGTH, verifyBearerToken } from '../../src/auth/verify.ts';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import type { AuthPolicy } from '../../src/model/policy.ts';

let mint: CognitoMint;
let provider: Provider;
const fetcher = createFetcher({ caBundle: null });

beforeAll(async () => {
  mint = await startCognitoMint();
  provider = createProvider({ issuer: mint.issuer, discoveryURL: mint.discoveryURL, fetchJSON: fetcher.fetchJSON });
  await provider.refresh();
});
afterAll(async () => {
  provider.close();
  await mint.close();
  await fetcher.close();
});

function policyFor(overrides: Partial<AuthPolicy> = {}): AuthPolicy {
  return {
    key: 'default/machines',
    namespace: 'default',
    name: 'machines',
    fingerprint: 'test',
    issuer: mint.issuer,
    discoveryURL: mint.discoveryURL,
    provider: 'Cognito',
    clientID: mint.clientIds.machine,
    clientSecret: null,
    caBundle: null,
    scopes: ['openid'],
    browser: null,
    bearer: { tokenUse: 'access', allowedClientIDs: [mint.clientIds.machine], audiences: [mint.clientIds.machine] },
    unauthenticated: 'Deny',
    authorization: { requiredScopes: [], groups: [], claims: [] },
    forward: { headers: [], accessToken: false, idToken: false, defaultHeaders: true, assertion: true },
    allowPreflight: false,
    clockSkewMs: 60_000,
    ...overrides,
  };
}

/** Counts key look-ups: each is the start of a signature check. */
function counting(inner: Provider): Provider & { keyLookups: number } {
  const wrapped = { ...inner, keyLookups: 0, key: async (kid: string | undefined) => (wrapped.keyLookups++, inner.key(kid)) };
  return wrapped;
}

describe('the signature cache', () => {
  it('makes a repeated token cost a lookup, not a signature check', async () => {
    const spy = counting(provider);
    const cache = createSignatureCache(100, Date.now);
    const token = mint.mint();
    const context = { policy: policyFor(), provider: spy, cache, now: Date.now() };
    await verifyBearerToken(token, context);
    await verifyBearerToken(token, context);
    await verifyBearerToken(token, context);
    expect(spy.keyLookups).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('still checks time and audience on every request of a cached token', async () => {
    const cache = createSignatureCache(100, Date.now);
    const token = mint.mint();
    await verifyBearerToken(token, { policy: policyFor(), provider, cache, now: Date.now() });
    // Two hours later, the cached token has expired.
    await expect(verifyBearerToken(token, { policy: policyFor(), provider, cache, now: Date.now() + 2 * 3_600_000 })).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    // Under a policy that allows another client, the same cached signature does not help.
    const other = policyFor({ bearer: { tokenUse: 'access', allowedClientIDs: ['someone-else'], audiences: ['someone-else'] } });
    await expect(verifyBearerToken(token, { policy: other, provider, cache, now: Date.now() })).rejects.toMatchObject({ code: 'TOKEN_CLIENT_NOT_ALLOWED' });
  });

  it('never lets a tampered copy ride on a cached signature', async () => {
    const cache = createSignatureCache(100, Date.now);
    const token = mint.mint();
    await verifyBearerToken(token, { policy: policyFor(), provider, cache, now: Date.now() });
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...mint.claims('machine'), scope: 'admin' })).toString('base64url')}.${signature}`;
    await expect(verifyBearerToken(tampered, { policy: policyFor(), provider, cache, now: Date.now() })).rejects.toMatchObject({ code: 'TOKEN_SIGNATURE_INVALID' });
  });

  it('stays within its bound', async () => {
    const cache = createSignatureCache(3, Date.now);
    for (let i = 0; i < 10; i++) await verifyBearerToken(mint.mint({ jti: `t${i}` }), { policy: policyFor(), provider, cache, now: Date.now() });
    expect(cache.size).toBe(3);
  });

  it('can be turned off', async () => {
    const spy = counting(provider);
    const cache = createSignatureCache(0, Date.now);
    const token = mint.mint();
    for (let i = 0; i < 3; i++) await verifyBearerToken(token, { policy: policyFor(), provider: spy, cache, now: Date.now() });
    expect(spy.keyLookups).toBe(3);
  });
});

describe('Cognito shapes', () => {
  it('parses the claims of a real Cognito machine token', () => {
    const token = readFileSync(join(import.meta.dirname, '../fixtures/cognito-m2m-access-token.jwt'), 'utf8').trim();
    const { header, claims } = decodeToken(token);
    expect(header).toEqual({ kid: 'h8hrkzCVLxcVTirN6fJgamn1RpkJ50lAUvp4st13nBc=', alg: 'RS256' });
    expect(claims).toMatchObject({ token_use: 'access', client_id: '1nh91q0q1bgimb7pc79uh2btqe', scope: 'default-m2m-resource-server-hlyky3/read', version: 2 });
    expect(claims.aud).toBeUndefined();
    // The mint's machine tokens carry the same claim names.
    expect(Object.keys(mint.claims('machine')).sort()).toEqual(Object.keys(claims).sort());
  });
});

describe('token size', () => {
  it('refuses a bearer token over 8 KiB, but takes a larger one fetched from the token endpoint', async () => {
    const big = mint.mint({ 'cognito:groups': Array.from({ length: 200 }, (_, i) => `a-rather-long-group-name-for-team-${i}`) });
    expect(big.length).toBeGreaterThan(8 * 1024);
    const context = { policy: policyFor(), provider, cache: createSignatureCache(0, Date.now), now: Date.now() };
    await expect(verifyBearerToken(big, context)).rejects.toMatchObject({ code: 'TOKEN_TOO_LARGE' });
    await expect(verifyBearerToken(big, { ...context, maxLength: MAX_TOKEN_ENDPOINT_TOKEN_LENGTH })).resolves.toMatchObject({ token_use: 'access' });
  });
});

describe('time checks, with the policy clock skew', () => {
  const seconds = () => Math.floor(Date.now() / 1000);
  const verify = (token: string, clockSkewMs = 60_000, cache = createSignatureCache(0, Date.now)) => verifyBearerToken(token, { policy: policyFor({ clockSkewMs }), provider, cache, now: Date.now() });

  it('refuses a token issued an hour in the future, and takes one issued within the skew', async () => {
    await expect(verify(mint.mint({ iat: seconds() + 3600, exp: seconds() + 7200 }))).rejects.toMatchObject({ code: 'TOKEN_ISSUED_IN_FUTURE', status: 401 });
    await expect(verify(mint.mint({ iat: seconds() + 30 }))).resolves.toMatchObject({ token_use: 'access' });
    await expect(verify(mint.mint({ iat: seconds() + 30 }), 5_000)).rejects.toMatchObject({ code: 'TOKEN_ISSUED_IN_FUTURE' });
  });

  it('refuses an iat that is not a number, and takes a token without one (RFC 7519 makes it optional)', async () => {
    await expect(verify(mint.mint({ iat: String(seconds()) }))).rejects.toMatchObject({ code: 'TOKEN_MALFORMED' });
    await expect(verify(mint.mint({ iat: undefined }))).resolves.toMatchObject({ token_use: 'access' });
  });

  it('checks iat on every request, cached signature or not', async () => {
    const cache = createSignatureCache(10, Date.now);
    const token = mint.mint({ iat: seconds() + 30 });
    await verify(token, 60_000, cache);
    expect(cache.size).toBe(1);
    await expect(verify(token, 5_000, cache)).rejects.toMatchObject({ code: 'TOKEN_ISSUED_IN_FUTURE' });
  });

  it('with clockSkew 5s, refuses a token 10 s past exp and takes one 3 s past', async () => {
    await expect(verify(mint.mint({ iat: seconds() - 600, exp: seconds() - 10 }), 5_000)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    await expect(verify(mint.mint({ iat: seconds() - 600, exp: seconds() - 3 }), 5_000)).resolves.toMatchObject({ token_use: 'access' });
  });
});

describe('claim rules on email', () => {
  const SUBJECT = { kind: 'bearer', request: { method: 'GET', headers: {}, authorizationCount: 1 }, context: { requestId: 'r', scheme: 'http', host: 'h', hostname: 'h', route: null, path: '/', query: '', upgrade: false } } as const;
  const emailRule = () => policyFor({ authorization: { requiredScopes: [], groups: [], claims: [{ claim: 'email', values: ['alice@example.com'] }] } });

  it.each([
    ['true', true],
    ['the string "true"', 'true'],
  ])('hold when email_verified is %s', (_name, verified) => {
    expect(() => authorize(mint.claims('id', { email_verified: verified }), emailRule(), SUBJECT)).not.toThrow();
  });

  it.each([
    ['false', false],
    ['the string "false"', 'false'],
    ['absent', undefined],
    ['1', 1],
  ])('refuse the address when email_verified is %s', (_name, verified) => {
    expect(() => authorize(mint.claims('id', { email_verified: verified }), emailRule(), SUBJECT)).toThrow(expect.objectContaining({ code: 'EMAIL_NOT_VERIFIED', status: 403 }));
  });

  it('still compare the value once it is verified', () => {
    expect(() => authorize(mint.claims('id', { email: 'mallory@example.com', email_verified: true }), emailRule(), SUBJECT)).toThrow(expect.objectContaining({ code: 'CLAIM_MISMATCH' }));
  });

  it('leave rules on other claims alone', () => {
    const tenants = policyFor({ authorization: { requiredScopes: [], groups: [], claims: [{ claim: 'custom:tenant', values: ['acme'] }] } });
    expect(() => authorize(mint.claims('id', { email_verified: false }), tenants, SUBJECT)).not.toThrow();
  });
});
