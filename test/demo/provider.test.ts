// The local Cognito-like OpenID provider: what a relying party sees must be Cognito's shapes
// (docs/cognito.md), from the real endpoints, over real sockets.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { decodeToken } from '../../src/demo/cognito-mint.ts';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { headlessBrowser, signInHeadless, type CodeFlowResult } from './headless-login.ts';

const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/cognito-m2m-access-token.json', import.meta.url), 'utf8')) as {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
};
const COGNITO_DISCOVERY_FIELDS = [
  'issuer',
  'jwks_uri',
  'authorization_endpoint',
  'token_endpoint',
  'userinfo_endpoint',
  'revocation_endpoint',
  'end_session_endpoint',
  'id_token_signing_alg_values_supported',
  'response_types_supported',
  'scopes_supported',
  'subject_types_supported',
  'token_endpoint_auth_methods_supported',
];
const REDIRECT_URI = 'http://127.0.0.1:1/callback';
const LOGOUT_URI = 'http://127.0.0.1:1/signed-out';

interface TokenResponse {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
  token_type?: string;
  error?: string;
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}

async function tokenRequest(provider: CognitoLikeProvider, form: Record<string, string>, authorization?: string): Promise<{ status: number; body: TokenResponse }> {
  const response = await fetch(`${provider.origin}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization === undefined ? {} : { authorization }) },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse };
}

async function machineToken(provider: CognitoLikeProvider, scope = 'default-m2m-resource-server/read'): Promise<string> {
  const { clientId, clientSecret } = provider.clients.machine;
  const { status, body } = await tokenRequest(provider, { grant_type: 'client_credentials', scope }, basic(clientId, clientSecret));
  expect(status).toBe(200);
  return body.access_token as string;
}

async function signIn(provider: CognitoLikeProvider, username: string, password: string, browser?: CodeFlowResult['browser']): Promise<CodeFlowResult> {
  return signInHeadless({
    authorizationEndpoint: `${provider.origin}/oauth2/authorize`,
    clientId: provider.clients.web.clientId,
    redirectURI: REDIRECT_URI,
    scope: 'openid email profile',
    username,
    password,
    ...(browser === undefined ? {} : { browser }),
  });
}

/** A code request's parameters, with an S256 challenge (`pkce` replaces or, with undefined values, removes them). */
function authorizeParams(provider: CognitoLikeProvider, pkce: Record<string, string | undefined> = {}): Record<string, string> {
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: provider.clients.web.clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: createHash('sha256').update('a-code-verifier-of-at-least-43-characters-long').digest('base64url'),
    code_challenge_method: 'S256',
    ...pkce,
  };
  return Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

async function exchangeCode(provider: CognitoLikeProvider, flow: CodeFlowResult): Promise<TokenResponse> {
  const { clientId, clientSecret } = provider.clients.web;
  const { status, body } = await tokenRequest(provider, { grant_type: 'authorization_code', code: flow.code, redirect_uri: REDIRECT_URI, code_verifier: flow.codeVerifier }, basic(clientId, clientSecret));
  expect(status).toBe(200);
  return body;
}

describe('Cognito-like provider', () => {
  let provider: CognitoLikeProvider;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  beforeAll(async () => {
    provider = await startCognitoLikeProvider({ webClient: { redirectURIs: [REDIRECT_URI], logoutURIs: [LOGOUT_URI] } });
    jwks = createRemoteJWKSet(new URL(provider.jwksURL));
  });
  afterAll(async () => {
    expect(provider.serverErrors()).toEqual([]);
    await provider.close();
  });

  describe('discovery', () => {
    it("has Cognito's issuer path and exactly the fields of Cognito's document", async () => {
      expect(provider.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/us-east-1_Demo12345$/);
      expect(provider.discoveryURL).toBe(`${provider.issuer}/.well-known/openid-configuration`);
      const response = await fetch(provider.discoveryURL);
      expect(response.status).toBe(200);
      const document = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(document)).toEqual(COGNITO_DISCOVERY_FIELDS);
      expect(document).toMatchObject({
        issuer: provider.issuer,
        jwks_uri: `${provider.issuer}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        revocation_endpoint: `${provider.origin}/oauth2/revoke`,
        end_session_endpoint: `${provider.origin}/logout`,
      });
      expect(document).not.toHaveProperty('code_challenge_methods_supported');
      // Endpoints live on the "user pool domain", not under the issuer: never derive them.
      expect(String(document.token_endpoint).startsWith(provider.issuer)).toBe(false);
    });

    it('serves no discovery document at the root, only under the issuer', async () => {
      expect((await fetch(`${provider.origin}/.well-known/openid-configuration`)).status).toBe(404);
    });

    it('publishes two RS256 signing keys with different kids, members in Cognito order', async () => {
      const { keys } = (await (await fetch(provider.jwksURL)).json()) as { keys: Record<string, string>[] };
      expect(keys).toHaveLength(2);
      for (const key of keys) expect(Object.keys(key)).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
      expect(keys.map((key) => [key.alg, key.kty, key.use])).toEqual([
        ['RS256', 'RSA', 'sig'],
        ['RS256', 'RSA', 'sig'],
      ]);
      const kids = keys.map((key) => key.kid);
      expect(new Set(kids).size).toBe(2);
      expect(kids.sort()).toEqual([provider.signingKids().access, provider.signingKids().id].sort());
    });
  });

  describe('client credentials (machine to machine)', () => {
    it("issues a JWT with a Cognito machine token's claims, in Cognito's order, and no aud", async () => {
      const before = provider.tokenEndpointCalls().client_credentials ?? 0;
      const token = await machineToken(provider);
      const { header, payload } = decodeToken(token);
      const { clientId } = provider.clients.machine;

      // oidc-provider writes `alg` before `kid` (Cognito: kid first); no `typ`, like Cognito.
      expect(header).toEqual({ alg: 'RS256', kid: provider.signingKids().access });
      expect(payload).toMatchObject({ sub: clientId, client_id: clientId, token_use: 'access', scope: 'default-m2m-resource-server/read', version: 2, iss: provider.issuer });
      expect(payload.scope).toContain('/');
      expect(payload).not.toHaveProperty('aud');
      expect(payload).not.toHaveProperty('username');
      expect(payload).not.toHaveProperty('email');
      expect(Object.keys(payload)).toEqual(Object.keys(FIXTURE.payload));
      expect(payload.auth_time).toBe(payload.iat);
      expect(Number(payload.exp) - Number(payload.iat)).toBe(3600);

      const verified = await jwtVerify(token, jwks, { issuer: provider.issuer, algorithms: ['RS256'] });
      expect(verified.payload.client_id).toBe(clientId);
      expect(provider.tokenEndpointCalls().client_credentials).toBe(before + 1);
    });

    it('accepts client_secret_post too, and grants every allowed scope when none is asked', async () => {
      const { clientId, clientSecret } = provider.clients.machine;
      const { status, body } = await tokenRequest(provider, { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
      expect(status).toBe(200);
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'default-m2m-resource-server/read default-m2m-resource-server/write' });
      expect(body).not.toHaveProperty('refresh_token');
      expect(decodeToken(body.access_token as string).payload.scope).toBe('default-m2m-resource-server/read default-m2m-resource-server/write');
    });

    it('refuses scopes the client is not allowed, and bad secrets', async () => {
      const { clientId, clientSecret } = provider.clients.machine;
      for (const scope of ['openid', 'default-m2m-resource-server/admin', 'default-m2m-resource-server/read other/x']) {
        const { status, body } = await tokenRequest(provider, { grant_type: 'client_credentials', scope }, basic(clientId, clientSecret));
        expect([scope, status, body.error]).toEqual([scope, 400, 'invalid_scope']);
      }
      const wrong = await tokenRequest(provider, { grant_type: 'client_credentials' }, basic(clientId, 'wrong'));
      expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_client']);
    });
  });

  describe('authorization code flow', () => {
    it("signs alice in with the login form and issues Cognito's user access and ID tokens", async () => {
      const flow = await signIn(provider, 'alice', 'alice-password');
      expect(flow.formShown).toBe(true);
      expect(flow.callbackURL.searchParams.get('iss')).toBe(provider.issuer);
      const tokens = await exchangeCode(provider, flow);
      expect(tokens.refresh_token).toEqual(expect.any(String));
      const { clientId } = provider.clients.web;
      const alice = provider.users.find((user) => user.username === 'alice');

      const access = decodeToken(tokens.access_token as string);
      expect(access.header).toEqual({ alg: 'RS256', kid: provider.signingKids().access });
      expect(Object.keys(access.payload)).toEqual(['sub', 'cognito:groups', 'iss', 'version', 'client_id', 'origin_jti', 'event_id', 'token_use', 'scope', 'auth_time', 'exp', 'iat', 'jti', 'username']);
      expect(access.payload).toMatchObject({ sub: alice?.sub, 'cognito:groups': ['admins', 'users'], client_id: clientId, token_use: 'access', scope: 'openid email profile', version: 2, username: 'alice' });
      expect(access.payload).not.toHaveProperty('aud');

      const id = decodeToken(tokens.id_token as string);
      expect(id.header).toEqual({ alg: 'RS256', kid: provider.signingKids().id });
      expect(id.header.kid).not.toBe(access.header.kid);
      expect(id.payload).toMatchObject({
        sub: alice?.sub,
        aud: clientId,
        iss: provider.issuer,
        token_use: 'id',
        email: 'alice@example.com',
        email_verified: 'true',
        'cognito:username': 'alice',
        'cognito:groups': ['admins', 'users'],
        'custom:tenant': 'acme',
        nonce: flow.nonce,
        origin_jti: access.payload.origin_jti,
        auth_time: access.payload.auth_time,
      });
      expect(id.payload.jti).toEqual(expect.any(String));

      await expect(jwtVerify(tokens.access_token as string, jwks, { issuer: provider.issuer })).resolves.toBeDefined();
      await expect(jwtVerify(tokens.id_token as string, jwks, { issuer: provider.issuer, audience: clientId })).resolves.toBeDefined();
    });

    it('needs no consent screen, offline_access or prompt=consent for a refresh token, and accepts them', async () => {
      for (const extraParams of [{ prompt: 'consent' }, { scope: 'openid offline_access' }] as Record<string, string>[]) {
        const flow = await signInHeadless({
          authorizationEndpoint: `${provider.origin}/oauth2/authorize`,
          clientId: provider.clients.web.clientId,
          redirectURI: REDIRECT_URI,
          username: 'alice',
          password: 'alice-password',
          extraParams,
        });
        expect((await exchangeCode(provider, flow)).refresh_token).toEqual(expect.any(String));
      }
    });

    it('leaves cognito:groups out for a user without groups', async () => {
      const tokens = await exchangeCode(provider, await signIn(provider, 'bob', 'bob-password'));
      const access = decodeToken(tokens.access_token as string).payload;
      const id = decodeToken(tokens.id_token as string).payload;
      expect(access).toMatchObject({ username: 'bob' });
      expect(access).not.toHaveProperty('cognito:groups');
      expect(id).not.toHaveProperty('cognito:groups');
      expect(id).toMatchObject({ email_verified: true, 'custom:tenant': 'globex' });
    });

    it('shows a plain form (username, password, submit) and answers a wrong password with it again', async () => {
      const browser = headlessBrowser();
      const authorize = new URL(`${provider.origin}/oauth2/authorize`);
      authorize.search = new URLSearchParams({ ...authorizeParams(provider), state: 's' }).toString();
      const page = await browser.follow(authorize.href, provider.origin);
      expect(page.url).toMatch(new RegExp(`^${provider.origin}/interaction/[\\w-]+$`));
      const html = (await page.response?.text()) ?? '';
      expect(html).toContain('<input id="username" name="username" type="text"');
      expect(html).toContain('<input id="password" name="password" type="password"');
      expect(html).toContain('<button type="submit"');

      const wrong = await browser.request(`${page.url}/login`, { form: { username: 'alice', password: 'nope' } });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain('Incorrect username or password.');
      const right = await browser.request(`${page.url}/login`, { form: { username: 'alice', password: 'alice-password' } });
      expect(right.status).toBe(303);
      const back = await browser.follow(new URL(right.headers.get('location') ?? '', provider.origin).href, provider.origin);
      expect(new URL(back.url).searchParams.get('code')).toEqual(expect.any(String));
    });

    it('requires PKCE S256: a code request without a challenge, or with plain, is refused', async () => {
      for (const [label, pkce] of [
        ['no challenge', { code_challenge: undefined, code_challenge_method: undefined }],
        ['plain', { code_challenge: 'a-code-verifier-of-at-least-43-characters-long', code_challenge_method: 'plain' }],
        ['a challenge without its method', { code_challenge_method: undefined }],
      ] as const) {
        const authorize = new URL(`${provider.origin}/oauth2/authorize`);
        authorize.search = new URLSearchParams({ ...authorizeParams(provider, pkce), state: 's' }).toString();
        const back = await headlessBrowser().follow(authorize.href, provider.origin);
        // Refused before any form: straight back to the client with the error (RFC 6749 4.1.2.1).
        const callback = new URL(back.url);
        expect({ label, at: `${callback.origin}${callback.pathname}`, error: callback.searchParams.get('error'), code: callback.searchParams.get('code') }).toEqual({
          label,
          at: REDIRECT_URI,
          error: 'invalid_request',
          code: null,
        });
      }
    });

    it('refuses to exchange a code without its PKCE verifier, or with another one', async () => {
      const { clientId, clientSecret } = provider.clients.web;
      for (const verifier of [undefined, 'another-code-verifier-of-at-least-43-characters']) {
        const flow = await signIn(provider, 'alice', 'alice-password');
        const form = { grant_type: 'authorization_code', code: flow.code, redirect_uri: REDIRECT_URI, ...(verifier === undefined ? {} : { code_verifier: verifier }) };
        const { status, body } = await tokenRequest(provider, form, basic(clientId, clientSecret));
        expect({ verifier, status, error: body.error, token: body.access_token }).toEqual({ verifier, status: 400, error: 'invalid_grant', token: undefined });
      }
    });

    it('refreshes like Cognito: new access and ID tokens, no new refresh token; calls counted', async () => {
      const tokens = await exchangeCode(provider, await signIn(provider, 'alice', 'alice-password'));
      const before = provider.tokenEndpointCalls().refresh_token ?? 0;
      const { clientId, clientSecret } = provider.clients.web;
      const refreshed = await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string, client_id: clientId, client_secret: clientSecret });
      expect(refreshed.status).toBe(200);
      expect(Object.keys(refreshed.body).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'scope', 'token_type']);
      const access = decodeToken(refreshed.body.access_token as string).payload;
      expect(access).toMatchObject({ username: 'alice', 'cognito:groups': ['admins', 'users'], token_use: 'access' });
      expect(access.origin_jti).toBe(decodeToken(tokens.access_token as string).payload.origin_jti);
      expect(decodeToken(refreshed.body.id_token as string).payload).toMatchObject({ 'cognito:groups': ['admins', 'users'] });
      // The old refresh token keeps working.
      expect((await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }, basic(clientId, clientSecret))).status).toBe(200);
      expect(provider.tokenEndpointCalls().refresh_token).toBe(before + 2);
    });

    it('revokes a refresh token at /oauth2/revoke', async () => {
      const tokens = await exchangeCode(provider, await signIn(provider, 'bob', 'bob-password'));
      const { clientId, clientSecret } = provider.clients.web;
      const revoked = await fetch(`${provider.origin}/oauth2/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, clientSecret) },
        body: new URLSearchParams({ token: tokens.refresh_token as string }).toString(),
      });
      expect(revoked.status).toBe(200);
      const refused = await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }, basic(clientId, clientSecret));
      expect([refused.status, refused.body.error]).toEqual([400, 'invalid_grant']);
    });

    it('answers /oauth2/userInfo for an access token with openid', async () => {
      const tokens = await exchangeCode(provider, await signIn(provider, 'alice', 'alice-password'));
      const answer = await fetch(`${provider.origin}/oauth2/userInfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ username: 'alice', email: 'alice@example.com', email_verified: 'true', 'custom:tenant': 'acme' });
      const machine = await fetch(`${provider.origin}/oauth2/userInfo`, { headers: { authorization: `Bearer ${await machineToken(provider)}` } });
      expect(machine.status).toBe(401);
    });

    it("keeps the provider's session until Cognito's /logout, which only accepts registered sign-out URLs", async () => {
      const first = await signIn(provider, 'alice', 'alice-password');
      const again = await signIn(provider, 'ignored', 'ignored', first.browser);
      expect(again.formShown).toBe(false);

      const { clientId } = provider.clients.web;
      const unregistered = await first.browser.request(`${provider.origin}/logout?client_id=${clientId}&logout_uri=${encodeURIComponent('https://evil.example/')}`);
      expect(unregistered.status).toBe(400);
      const logout = await first.browser.request(`${provider.origin}/logout?client_id=${clientId}&logout_uri=${encodeURIComponent(LOGOUT_URI)}`);
      expect([logout.status, logout.headers.get('location')]).toEqual([302, LOGOUT_URI]);
      const afterLogout = await signIn(provider, 'bob', 'bob-password', first.browser);
      expect(afterLogout.formShown).toBe(true);
    });
  });

  describe('outages and key rotation', () => {
    it('takes discovery and JWKS down (503, reset) and back up without a restart', async () => {
      const before = provider.metadataFetches();
      provider.down();
      expect((await fetch(provider.discoveryURL)).status).toBe(503);
      expect((await fetch(provider.jwksURL)).status).toBe(503);
      // The token endpoint is not affected by a metadata outage.
      await machineToken(provider);
      provider.down('reset');
      await expect(fetch(provider.jwksURL)).rejects.toThrow();
      provider.down('unavailable', { endpoints: 'all' });
      expect((await tokenRequest(provider, { grant_type: 'client_credentials' })).status).toBe(503);
      provider.up();
      expect((await fetch(provider.discoveryURL)).status).toBe(200);
      expect((await fetch(provider.jwksURL)).status).toBe(200);
      expect(provider.metadataFetches()).toEqual({ discovery: before.discovery + 2, jwks: before.jwks + 3 });
    });

    it('rotates to a new active key; old tokens keep verifying, sessions survive', async () => {
      const oldToken = await machineToken(provider);
      const signedIn = await signIn(provider, 'alice', 'alice-password');
      const old = provider.signingKids();

      const kid = await provider.rotateKey();
      expect(provider.signingKids()).toEqual({ access: kid, id: kid });
      const newToken = await machineToken(provider);
      expect(decodeToken(newToken).header.kid).toBe(kid);
      const { keys } = (await (await fetch(provider.jwksURL)).json()) as { keys: { kid: string }[] };
      expect(keys.map((key) => key.kid).sort()).toEqual([old.access, old.id, kid].sort());
      const fresh = createRemoteJWKSet(new URL(provider.jwksURL));
      await expect(jwtVerify(newToken, fresh, { issuer: provider.issuer })).resolves.toBeDefined();
      await expect(jwtVerify(oldToken, fresh, { issuer: provider.issuer })).resolves.toBeDefined();
      expect((await signIn(provider, 'ignored', 'ignored', signedIn.browser)).formShown).toBe(false);

      // Retiring drops the key the rotation replaced (here: the one just added above).
      const retired = await provider.rotateKey({ retire: true });
      const after = (await (await fetch(provider.jwksURL)).json()) as { keys: { kid: string }[] };
      expect(after.keys.map((key) => key.kid)).toEqual([retired, old.id, old.access]);
      await expect(jwtVerify(newToken, createRemoteJWKSet(new URL(provider.jwksURL)), { issuer: provider.issuer })).rejects.toThrow();
    });
  });
});

describe('Cognito-like provider with short lifetimes', () => {
  it('issues tokens with the configured lifetimes', async () => {
    const provider = await startCognitoLikeProvider({ webClient: { redirectURIs: [REDIRECT_URI] }, lifetimes: { accessToken: 5, idToken: 7 } });
    try {
      const tokens = await exchangeCode(provider, await signIn(provider, 'alice', 'alice-password'));
      expect(tokens.expires_in).toBe(5);
      const access = decodeToken(tokens.access_token as string).payload;
      const id = decodeToken(tokens.id_token as string).payload;
      expect(Number(access.exp) - Number(access.iat)).toBe(5);
      expect(Number(id.exp) - Number(id.iat)).toBe(7);
    } finally {
      await provider.close();
    }
  });
});
