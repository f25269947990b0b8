// The token minter: tokens byte-for-byte in Cognito's shape that verify against its JWKS, and
// forgeries that do not; the real Cognito fixture has the same claim set as a minted machine token.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { decodeToken, startCognitoMint, withPayload, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { generateSigningKey } from '../../src/demo/cognito-shapes.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const FIXTURE_JWT = readFileSync(new URL('cognito-m2m-access-token.jwt', FIXTURES), 'utf8').trim();

function rawSegments(token: string): { header: string; payload: string } {
  const [header = '', payload = ''] = token.split('.');
  return { header: Buffer.from(header, 'base64url').toString('utf8'), payload: Buffer.from(payload, 'base64url').toString('utf8') };
}

describe('Cognito token minter', () => {
  let mint: CognitoMint;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  const verify = (token: string) => jwtVerify(token, jwks, { issuer: mint.issuer, algorithms: ['RS256'] });

  beforeAll(async () => {
    mint = await startCognitoMint();
    jwks = createRemoteJWKSet(new URL(mint.jwksURL));
  });
  afterAll(async () => {
    await mint.close();
  });

  describe('shapes', () => {
    it("mints a machine token with Cognito's header bytes, claim order and escaped slashes, no aud", async () => {
      const token = mint.mint();
      const raw = rawSegments(token);
      expect(raw.header).toBe(`{"kid":"${mint.activeKey('machine').kid.replaceAll('/', '\\/')}","alg":"RS256"}`);
      expect(raw.payload).toContain(`"scope":"default-m2m-resource-server\\/read"`);
      expect(raw.payload).toContain(`"iss":"${mint.issuer.replaceAll('/', '\\/')}"`);
      const { payload } = decodeToken(token);
      expect(payload).toMatchObject({ sub: mint.clientIds.machine, client_id: mint.clientIds.machine, token_use: 'access', version: 2, iss: mint.issuer });
      expect(payload).not.toHaveProperty('aud');
      expect((await verify(token)).payload.client_id).toBe(mint.clientIds.machine);
    });

    it('has exactly the claim names, in the same order, as the real Cognito machine token', () => {
      const real = rawSegments(FIXTURE_JWT);
      const fixture = decodeToken(FIXTURE_JWT);
      const minted = decodeToken(mint.mint());
      expect(Object.keys(minted.payload)).toEqual(Object.keys(fixture.payload));
      expect(Object.keys(minted.header)).toEqual(Object.keys(fixture.header));
      // Cognito's serialiser escapes slashes; so does the minter.
      expect(real.payload).toContain('-hlyky3\\/read');
      expect(fixture.payload).toMatchObject({ token_use: 'access', version: 2, scope: 'default-m2m-resource-server-hlyky3/read' });
      expect(fixture.payload).not.toHaveProperty('aud');
      expect(fixture.payload.sub).toBe(fixture.payload.client_id);
    });

    it("mints a user's access token (username, groups, no aud) and an ID token with another key", async () => {
      const access = decodeToken(mint.mint({}, { kind: 'access' }));
      expect(access.payload).toMatchObject({ token_use: 'access', username: 'alice', 'cognito:groups': ['admins', 'users'], client_id: mint.clientIds.web, scope: 'openid email phone' });
      expect(access.payload).not.toHaveProperty('aud');

      const idToken = mint.mint({ nonce: 'n-1' }, { kind: 'id' });
      const id = decodeToken(idToken);
      expect(id.payload).toMatchObject({ token_use: 'id', aud: mint.clientIds.web, 'cognito:username': 'alice', email_verified: 'true', 'custom:tenant': 'acme', nonce: 'n-1' });
      expect(id.header.kid).toBe(mint.activeKey('id').kid);
      expect(id.header.kid).not.toBe(access.header.kid);
      await expect(verify(idToken)).resolves.toBeDefined();
    });

    it('merges overrides in place, appends new claims, and removes claims set to undefined', () => {
      const claims = mint.claims('machine', { scope: 'a/b c/d', token_use: undefined, extra: 'x' });
      expect(Object.keys(claims)).toEqual(['sub', 'scope', 'auth_time', 'iss', 'exp', 'iat', 'version', 'jti', 'client_id', 'extra']);
      expect(claims.scope).toBe('a/b c/d');
    });

    it("serves Cognito's discovery document under its own issuer", async () => {
      expect(mint.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/us-east-1_Mint12345$/);
      const document = (await (await fetch(mint.discoveryURL)).json()) as Record<string, unknown>;
      expect(document).toMatchObject({ issuer: mint.issuer, jwks_uri: mint.jwksURL, id_token_signing_alg_values_supported: ['RS256'] });
      expect(document).not.toHaveProperty('code_challenge_methods_supported');
    });
  });

  describe('forgeries do not verify', () => {
    it('alg none', async () => {
      const token = mint.mint({}, { alg: 'none' });
      expect(token.endsWith('.')).toBe(true);
      expect(rawSegments(token).header).toContain('"alg":"none"');
      await expect(verify(token)).rejects.toThrow();
    });

    it('HS256 signed with the public key as the secret (a genuine key-confusion forgery)', async () => {
      const key = mint.activeKey('machine');
      const token = mint.mint({}, { alg: 'HS256', key: key.publicKeyPEM });
      const [header, payload, signature] = token.split('.');
      expect(signature).toBe(createHmac('sha256', key.publicKeyPEM).update(`${header}.${payload}`).digest('base64url'));
      await expect(verify(token)).rejects.toThrow();
    });

    it('an unknown kid, a key that is not published, a tampered payload, a non-JSON payload', async () => {
      const stranger = await generateSigningKey();
      const forgeries = [
        mint.mint({}, { kid: 'unknown-kid' }),
        mint.mint({}, { key: stranger.privateKey }),
        mint.mint({}, { kid: stranger.kid, key: stranger.privateKey }),
        withPayload(mint.mint(), { ...decodeToken(mint.mint()).payload, scope: 'default-m2m-resource-server/write' }),
        mint.mint({}, { payload: 'not json' }),
        mint.mint({}, { signature: 'AAAA' }),
      ];
      for (const token of forgeries) await expect(verify(token)).rejects.toThrow();
    });

    it('expired, not yet valid, or from another issuer; a missing token_use still verifies (the proxy must refuse it)', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expect(verify(mint.mint({ exp: now - 60 }))).rejects.toThrow(/exp/);
      await expect(verify(mint.mint({ nbf: now + 3600 }))).rejects.toThrow(/nbf/);
      await expect(verify(mint.mint({ iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other' }))).rejects.toThrow(/iss/);
      const { payload } = await verify(mint.mint({ token_use: undefined }));
      expect(payload).not.toHaveProperty('token_use');
    });
  });

  describe('JWKS endpoint', () => {
    it('counts fetches, goes down (503, reset) and comes back up', async () => {
      const before = mint.metadataFetches().jwks;
      expect((await fetch(mint.jwksURL)).status).toBe(200);
      mint.down();
      expect((await fetch(mint.jwksURL)).status).toBe(503);
      expect((await fetch(mint.discoveryURL)).status).toBe(503);
      mint.down('reset');
      await expect(fetch(mint.jwksURL)).rejects.toThrow();
      mint.down('hang');
      await expect(fetch(mint.jwksURL, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
      mint.up();
      expect((await fetch(mint.jwksURL)).status).toBe(200);
      expect(mint.metadataFetches().jwks).toBe(before + 5);
    });

    it('rotates keys: the new key signs, the old one stays published until retired', async () => {
      const oldAccess = mint.activeKey('access').kid;
      const oldId = mint.activeKey('id').kid;
      const oldToken = mint.mint();
      const kid = await mint.rotateKey({ tokens: 'access' });
      expect([mint.activeKey('access').kid, mint.activeKey('id').kid]).toEqual([kid, oldId]);
      expect(decodeToken(mint.mint()).header.kid).toBe(kid);
      expect(mint.jwks().keys.map((key) => key.kid)).toEqual([oldId, oldAccess, kid]);
      const fresh = createRemoteJWKSet(new URL(mint.jwksURL));
      await expect(jwtVerify(oldToken, fresh, { issuer: mint.issuer })).resolves.toBeDefined();

      const retiring = await mint.rotateKey({ tokens: 'access', retire: true });
      expect(mint.jwks().keys.map((key) => key.kid)).toEqual([oldId, oldAccess, retiring]);
      expect(mint.jwks().keys.map((key) => key.kid)).not.toContain(kid);
    });
  });
});
