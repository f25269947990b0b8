// Bearer tokens end to end: the proxy as its own process, a real upstream that records what it
// received, oidc-provider for the client credentials walkthrough, and a local Cognito-shaped
// key server (src/demo/cognito-mint.ts) for the tokens oidc-provider cannot produce — Cognito
// itself cannot run here, so the mint reproduces its exact shapes (docs/cognito.md).
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startCognitoMint, withPayload, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { policyYAML } from '../support/manifests.ts';
import { rawRequest } from '../support/raw-http.ts';

const FIXTURE = readFileSync(join(import.meta.dirname, '../fixtures/cognito-m2m-access-token.jwt'), 'utf8').trim();
const FIXTURE_ISSUER = 'https://cognito-idp.ap-northeast-3.amazonaws.com/ap-northeast-3_mSfuhPzhm';
const READ = 'default-m2m-resource-server/read';
/** A provider whose key set publishes the mint's key twice more: once for encryption, once for another algorithm. */
const ODD_KEYS_ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OddKeys12';

let echo: EchoServer;
let mint: CognitoMint;
let idp: CognitoLikeProvider;
let fixtureDiscovery: Server;
let oddKeys: Server;
let proxy: PortcullisProcess;

beforeAll(async () => {
  echo = await startEchoServer();
  mint = await startCognitoMint();
  idp = await startCognitoLikeProvider();
  // The real fixture's issuer is Cognito's; its discovery here is a local document naming that
  // issuer (exactly as Cognito's does), with the mint's keys — which do not include the fixture's.
  fixtureDiscovery = createServer((_req, res) => res.end(JSON.stringify({ issuer: FIXTURE_ISSUER, jwks_uri: mint.jwksURL, id_token_signing_alg_values_supported: ['RS256'] })));
  fixtureDiscovery.listen(0, '127.0.0.1');
  await once(fixtureDiscovery, 'listening');
  oddKeys = createServer((req, res) => {
    const origin = `http://127.0.0.1:${(oddKeys.address() as AddressInfo).port}`;
    if (req.url === '/jwks.json') {
      const jwk = mint.activeKey().publicJwk;
      res.end(JSON.stringify({ keys: [{ ...jwk, kid: 'for-encryption', use: 'enc' }, { ...jwk, kid: 'rs384-only', alg: 'RS384' }] }));
    } else res.end(JSON.stringify({ issuer: ODD_KEYS_ISSUER, jwks_uri: `${origin}/jwks.json`, id_token_signing_alg_values_supported: ['RS256', 'RS384'] }));
  });
  oddKeys.listen(0, '127.0.0.1');
  await once(oddKeys, 'listening');

  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bearer-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    policyYAML('walkthrough', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.machine.clientId}
  bearer: {}
  forward: {headers: {X-Client-Id: client_id}}`) +
      policyYAML('machines', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}
  authorization: {requiredScopes: [${READ}]}
  forward: {headers: {X-Client-Id: client_id, X-User-Email: email, X-User-Name: username, X-Sub: sub}}`) +
      policyYAML('admins', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  bearer: {tokenUse: any}
  authorization: {groups: [admins]}
  forward: {headers: {X-User-Email: email, X-User-Groups: "cognito:groups", X-Tenant: "custom:tenant", X-User-Name: username}, accessToken: true}`) +
      policyYAML('fixture', `  issuer: ${FIXTURE_ISSUER}
  discoveryURL: http://127.0.0.1:${(fixtureDiscovery.address() as AddressInfo).port}/.well-known/openid-configuration
  clientID: 1nh91q0q1bgimb7pc79uh2btqe
  bearer: {}`) +
      policyYAML('emails', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  bearer: {tokenUse: id}
  authorization: {claims: [{claim: email, values: [alice@example.com]}]}`) +
      policyYAML('oddkeys', `  issuer: ${ODD_KEYS_ISSUER}
  discoveryURL: http://127.0.0.1:${(oddKeys.address() as AddressInfo).port}/.well-known/openid-configuration
  clientID: ${mint.clientIds.machine}
  bearer: {}`) +
      policyYAML('generic', `  issuer: ${mint.issuer}
  provider: Generic
  clientID: ${mint.clientIds.machine}
  bearer: {}`) +
      policyYAML('preflight', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  cors: {allowPreflight: true}`) +
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api}
spec:
  rules:
    - matches: [{path: {value: /anything}}]
      policyRef: {name: walkthrough}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /m2m}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /admins}}]
      policyRef: {name: admins}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /fixture}}]
      policyRef: {name: fixture}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /emails}}]
      policyRef: {name: emails}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /oddkeys}}]
      policyRef: {name: oddkeys}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /generic}}]
      policyRef: {name: generic}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /cors}}]
      policyRef: {name: preflight}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /public}}]
      backends: [{url: "${echo.url}"}]
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--provider-refresh', '1s']);
  // Every policy reports Ready before the tests start.
  for (const name of ['walkthrough', 'machines', 'admins', 'fixture', 'emails', 'oddkeys', 'generic', 'preflight']) {
    await proxy.waitForLog((line) => line.policy === `default/${name}` && line.condition === 'Ready' && line.status === 'True');
  }
});

afterAll(async () => {
  await proxy?.stop();
  fixtureDiscovery?.close();
  oddKeys?.close();
  await Promise.all([echo?.close(), mint?.close(), idp?.close()]);
});

async function clientCredentialsToken(): Promise<string> {
  const { clientId, clientSecret } = idp.clients.machine;
  const discovery = (await (await fetch(idp.discoveryURL)).json()) as { token_endpoint: string };
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: READ }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

interface Answer {
  status: number;
  body: { error?: { code: string } } & Record<string, unknown>;
  wwwAuthenticate: string | null;
}

async function call(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const response = await fetch(`${proxy.url}${path}`, { headers, method });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, wwwAuthenticate: response.headers.get('www-authenticate') };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const seenBy = () => echo.requests.length;

describe('the Cognito walkthrough (client credentials)', () => {
  it('a token from the token endpoint gets the upstream\'s answer', async () => {
    const token = await clientCredentialsToken();
    const answer = await call('/anything/test', bearer(token));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ path: '/anything/test', headers: { 'x-client-id': idp.clients.machine.clientId } });
    // Token forwarding is off by default: the upstream does not see the caller's token.
    expect((answer.body.headers as Record<string, string>).authorization).toBeUndefined();
  });

  it('Bearer invalid_token gets 401 invalid_token', async () => {
    const before = seenBy();
    const answer = await call('/anything/test', bearer('invalid_token'));
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('TOKEN_MALFORMED');
    expect(answer.wwwAuthenticate).toMatch(/^Bearer realm="portcullis", error="invalid_token", error_description="/);
    expect(seenBy()).toBe(before);
  });

  it('no token gets 401 with a bare challenge (RFC 6750: no error code)', async () => {
    const answer = await call('/anything/test');
    expect(answer.status).toBe(401);
    expect(answer.wwwAuthenticate).toBe('Bearer realm="portcullis"');
    expect(answer.body.error?.code).toBe('TOKEN_MISSING');
  });
});

describe('forged and refused input never reaches the upstream', () => {
  const now = () => Math.floor(Date.now() / 1000);
  type Forged = [name: string, build: () => Promise<{ path?: string; headers?: Record<string, string>; raw?: string }>, status: number, code: string];
  const forged: Forged[] = [
    ['alg none', async () => ({ headers: bearer(mint.mint({}, { alg: 'none' })) }), 401, 'TOKEN_ALG_NOT_ALLOWED'],
    ['HS256 signed with the public key', async () => ({ headers: bearer(mint.mint({}, { alg: 'HS256', key: mint.activeKey().publicKeyPEM })) }), 401, 'TOKEN_ALG_NOT_ALLOWED'],
    ['RS512, which the provider does not advertise', async () => ({ headers: bearer(mint.mint({}, { alg: 'RS512' })) }), 401, 'TOKEN_ALG_NOT_ALLOWED'],
    ['PS256, which the provider does not advertise', async () => ({ headers: bearer(mint.mint({}, { alg: 'PS256' })) }), 401, 'TOKEN_ALG_NOT_ALLOWED'],
    ['an unknown kid', async () => ({ headers: bearer(mint.mint({}, { kid: 'bm90LWEta2lkLXRoZS1wb29sLWhhcw==' })) }), 401, 'TOKEN_KID_UNKNOWN'],
    ['a published key whose use is enc', async () => ({ path: '/oddkeys/x', headers: bearer(mint.mint({ iss: ODD_KEYS_ISSUER }, { kid: 'for-encryption' })) }), 401, 'TOKEN_KEY_UNUSABLE'],
    ['a published key for RS384 under an RS256 header', async () => ({ path: '/oddkeys/x', headers: bearer(mint.mint({ iss: ODD_KEYS_ISSUER }, { kid: 'rs384-only', key: mint.activeKey().privateKey })) }), 401, 'TOKEN_KEY_UNUSABLE'],
    ['a tampered payload', async () => ({ headers: bearer(withPayload(mint.mint(), { ...mint.claims('machine'), scope: `${READ} admin` })) }), 401, 'TOKEN_SIGNATURE_INVALID'],
    ['signed by another key under a published kid', async () => ({ headers: bearer(mint.mint({}, { key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey })) }), 401, 'TOKEN_SIGNATURE_INVALID'],
    ['a truncated signature', async () => ({ headers: bearer(mint.mint().slice(0, -10)) }), 401, 'TOKEN_SIGNATURE_INVALID'],
    ['expired', async () => ({ headers: bearer(mint.mint({ iat: now() - 7200, exp: now() - 3600 })) }), 401, 'TOKEN_EXPIRED'],
    ['expired just beyond the clock skew', async () => ({ headers: bearer(mint.mint({ iat: now() - 3600, exp: now() - 65 })) }), 401, 'TOKEN_EXPIRED'],
    ['nbf in the future', async () => ({ headers: bearer(mint.mint({ nbf: now() + 3600 })) }), 401, 'TOKEN_NOT_YET_VALID'],
    ['iat an hour in the future', async () => ({ headers: bearer(mint.mint({ iat: now() + 3600, exp: now() + 7200 })) }), 401, 'TOKEN_ISSUED_IN_FUTURE'],
    ['iat just beyond the clock skew', async () => ({ headers: bearer(mint.mint({ iat: now() + 65 })) }), 401, 'TOKEN_ISSUED_IN_FUTURE'],
    ['iat as a string', async () => ({ headers: bearer(mint.mint({ iat: String(now()) })) }), 401, 'TOKEN_MALFORMED'],
    ['no exp', async () => ({ headers: bearer(mint.mint({ exp: undefined })) }), 401, 'TOKEN_MALFORMED'],
    ['exp as a string', async () => ({ headers: bearer(mint.mint({ exp: String(now() + 3600) })) }), 401, 'TOKEN_MALFORMED'],
    ['a wrong iss', async () => ({ headers: bearer(mint.mint({ iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Evil' })) }), 401, 'TOKEN_ISSUER_MISMATCH'],
    ['the iss with a trailing slash', async () => ({ headers: bearer(mint.mint({ iss: `${mint.issuer}/` })) }), 401, 'TOKEN_ISSUER_MISMATCH'],
    ['an ID token as an access token', async () => ({ headers: bearer(mint.mint({}, { kind: 'id' })) }), 401, 'TOKEN_USE_MISMATCH'],
    ['no token_use', async () => ({ headers: bearer(mint.mint({ token_use: undefined })) }), 401, 'TOKEN_USE_MISMATCH'],
    ['a wrong client_id', async () => ({ headers: bearer(mint.mint({ client_id: '7otherclient0000000000000', sub: '7otherclient0000000000000' })) }), 401, 'TOKEN_CLIENT_NOT_ALLOWED'],
    ['a user token of another app client', async () => ({ headers: bearer(mint.mint({}, { kind: 'access' })) }), 401, 'TOKEN_CLIENT_NOT_ALLOWED'],
    ['no aud, for a Generic provider', async () => ({ path: '/generic/x', headers: bearer(mint.mint()) }), 401, 'TOKEN_AUDIENCE_MISMATCH'],
    ['the aud of another client, for a Generic provider', async () => ({ path: '/generic/x', headers: bearer(mint.mint({ aud: ['someone-else'] })) }), 401, 'TOKEN_AUDIENCE_MISMATCH'],
    ['a missing scope', async () => ({ headers: bearer(mint.mint({ scope: 'default-m2m-resource-server/write' })) }), 403, 'SCOPE_MISSING'],
    ['a scope that is a prefix of the required one', async () => ({ headers: bearer(mint.mint({ scope: 'default-m2m-resource-server/rea' })) }), 403, 'SCOPE_MISSING'],
    ['a scope that extends the required one', async () => ({ headers: bearer(mint.mint({ scope: `${READ}:all` })) }), 403, 'SCOPE_MISSING'],
    ['a wrong group', async () => ({ path: '/admins/x', headers: bearer(mint.mint({ 'cognito:groups': ['users'] }, { kind: 'access' })) }), 403, 'GROUP_MISSING'],
    ['no groups at all', async () => ({ path: '/admins/x', headers: bearer(mint.mint({ 'cognito:groups': undefined }, { kind: 'access' })) }), 403, 'GROUP_MISSING'],
    ['an unverified email where a claim rule names it', async () => ({ path: '/emails/x', headers: bearer(mint.mint({ email_verified: false }, { kind: 'id' })) }), 403, 'EMAIL_NOT_VERIFIED'],
    ['a verified email the claim rule does not name', async () => ({ path: '/emails/x', headers: bearer(mint.mint({ email: 'mallory@example.com', email_verified: true }, { kind: 'id' })) }), 403, 'CLAIM_MISMATCH'],
    ['the token only in the query string', async () => ({ path: `/m2m/x?access_token=${mint.mint()}` }), 401, 'TOKEN_MISSING'],
    ['two Authorization headers', async () => ({ raw: `GET /m2m/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${mint.mint()}\r\nAuthorization: Bearer ${mint.mint()}` }), 400, 'MULTIPLE_AUTHORIZATION_HEADERS'],
    ['an empty token', async () => ({ raw: 'GET /m2m/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ' }), 401, 'TOKEN_MALFORMED'],
    ['a 10 KB token', async () => ({ headers: bearer(mint.mint({ padding: 'x'.repeat(10 * 1024) })) }), 401, 'TOKEN_TOO_LARGE'],
    ['a non-JSON payload', async () => ({ headers: bearer(mint.mint({}, { payload: 'not json at all' })) }), 401, 'TOKEN_MALFORMED'],
    ['a non-JSON header', async () => ({ headers: bearer(`${Buffer.from('{"alg":').toString('base64url')}.${mint.mint().split('.')[1]}.c2ln`) }), 401, 'TOKEN_MALFORMED'],
    ['two parts only', async () => ({ headers: bearer(mint.mint().split('.').slice(0, 2).join('.')) }), 401, 'TOKEN_MALFORMED'],
    ['Basic credentials instead of a token', async () => ({ headers: { authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' } }), 401, 'TOKEN_MISSING'],
    ['the real (expired, unverifiable) Cognito fixture on its own issuer', async () => ({ path: '/fixture/x', headers: bearer(FIXTURE) }), 401, 'TOKEN_KID_UNKNOWN'],
    ['the real Cognito fixture on another issuer', async () => ({ headers: bearer(FIXTURE) }), 401, 'TOKEN_ISSUER_MISMATCH'],
  ];

  it('has at least 30 cases', () => expect(forged.length).toBeGreaterThanOrEqual(30));

  it.each(forged)('%s', async (_name, build, status, code) => {
    const request = await build();
    const before = seenBy();
    let answer: { status: number; code: string | undefined };
    if (request.raw !== undefined) {
      const response = await rawRequest(proxy.url, request.raw);
      answer = { status: response.status, code: JSON.parse(response.body).error?.code };
    } else {
      const response = await call(request.path ?? '/m2m/x', request.headers);
      answer = { status: response.status, code: response.body.error?.code };
      if (status === 401 && code !== 'TOKEN_MISSING') expect(response.wwwAuthenticate).toMatch(/error="invalid_token"/);
      if (status === 403) expect(response.wwwAuthenticate).toMatch(/error="insufficient_scope"/);
      // Again: a token verified once is served from the signature cache, and what its claims grant is remembered with it.
      const again = await call(request.path ?? '/m2m/x', request.headers);
      expect({ status: again.status, code: again.body.error?.code }).toEqual(answer);
    }
    expect(answer).toEqual({ status, code });
    expect(seenBy()).toBe(before);
  });

  it('50 made-up kids at once share one key fetch (test/bearer/provider-faults.test.ts floods for longer)', async () => {
    const before = mint.metadataFetches().jwks;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call('/m2m/x', bearer(mint.mint({}, { kid: Buffer.from(`made-up-${i}-${Date.now()}`).toString('base64') })))),
    );
    expect(answers.every((a) => a.status === 401 && a.body.error?.code === 'TOKEN_KID_UNKNOWN')).toBe(true);
    // Their shared refetch, and perhaps the once-a-second refresh this suite runs with.
    expect(mint.metadataFetches().jwks - before).toBeLessThanOrEqual(2);
  });

  it('a spoofed identity header never reaches the upstream, whatever its case or separator', async () => {
    const answer = await call('/m2m/x', { ...bearer(mint.mint()), 'X-User-Email': 'ceo@example.com', 'x-user_email': 'ceo@example.com', 'X-USER-NAME': 'root', 'x-portcullis-policy': 'none' });
    expect(answer.status).toBe(200);
    const names = (echo.requests.at(-1)!.rawHeaders as string[]).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    // A machine token has no email and no username: those headers are absent, not the client's.
    expect(names).not.toContain('x-user-email');
    expect(names).not.toContain('x-user_email');
    expect(names).not.toContain('x-user-name');
    expect(names).not.toContain('x-portcullis-policy');
    expect(echo.requests.at(-1)!.headers['x-client-id']).toBe(mint.clientIds.machine);
  });

  it('on a public route too', async () => {
    const answer = await call('/public/x', { 'X-User-Email': 'ceo@example.com', 'X_Client_Id': 'forged' });
    expect(answer.status).toBe(200);
    expect(echo.requests.at(-1)!.headers['x-user-email']).toBeUndefined();
    expect(echo.requests.at(-1)!.headers['x_client_id']).toBeUndefined();
  });

  it('a claim with CR/LF or non-Latin-1 characters arrives sanitised', async () => {
    const answer = await call('/m2m/x', bearer(mint.mint({ username: 'mallory\r\nX-Admin: yes', sub: 'José 🦊' })));
    expect(answer.status).toBe(200);
    const seen = echo.requests.at(-1)!.headers;
    expect(seen['x-user-name']).toBe('mallory%0D%0AX-Admin: yes');
    expect(seen['x-admin']).toBeUndefined();
    expect(seen['x-sub']).toBe('José %F0%9F%A6%8A');
  });

  it('a WebSocket upgrade without a token is refused before the upstream', async () => {
    const before = seenBy();
    const socket = new WebSocket(`${proxy.url.replace('http', 'ws')}/m2m/socket`);
    socket.on('error', () => {});
    const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number; headers: Record<string, string> }];
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
    expect(seenBy()).toBe(before);
  });
});

describe('accepted tokens', () => {
  it.each([
    ['Bearer', 'Bearer'],
    ['bearer', 'bearer'],
    ['BEARER', 'BEARER'],
  ])('the %s scheme in any case', async (_name, scheme) => {
    expect((await call('/m2m/x', { authorization: `${scheme} ${mint.mint()}` })).status).toBe(200);
  });

  it('the required scope among others', async () => {
    expect((await call('/m2m/x', bearer(mint.mint({ scope: `openid ${READ} default-m2m-resource-server/write` })))).status).toBe(200);
  });

  it('for a Generic provider, a token whose aud names the client', async () => {
    expect((await call('/generic/x', bearer(mint.mint({ aud: mint.clientIds.machine })))).status).toBe(200);
    expect((await call('/generic/x', bearer(mint.mint({ aud: ['other', mint.clientIds.machine] })))).status).toBe(200);
  });

  it('a token expired within the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await call('/m2m/x', bearer(mint.mint({ iat: now - 3600, exp: now - 20 })))).status).toBe(200);
  });

  it('a user in the group, with an access token or an ID token, forwarding only what is verified', async () => {
    const access = await call('/admins/x', bearer(mint.mint({}, { kind: 'access' })));
    expect(access.status).toBe(200);
    const seen = echo.requests.at(-1)!.headers;
    expect(seen['x-user-groups']).toBe('admins,users');
    expect(seen['x-user-name']).toBe('alice');
    expect(seen.authorization).toMatch(/^Bearer /); // forward.accessToken: true
    const id = await call('/admins/x', bearer(mint.mint({}, { kind: 'id' })));
    expect(id.status).toBe(200);
    const fromId = echo.requests.at(-1)!.headers;
    expect(fromId['x-user-email']).toBe('alice@example.com'); // email_verified is the string "true"
    expect(fromId['x-tenant']).toBe('acme');
    const unverified = await call('/admins/x', bearer(mint.mint({ email_verified: false }, { kind: 'id' })));
    expect(unverified.status).toBe(200);
    expect(echo.requests.at(-1)!.headers['x-user-email']).toBeUndefined();
  });

  it('a group name with a comma stays one value', async () => {
    expect((await call('/admins/x', bearer(mint.mint({ 'cognito:groups': ['admins', 'a,b'] }, { kind: 'access' })))).status).toBe(200);
    expect(echo.requests.at(-1)!.headers['x-user-groups']).toBe('admins,a%2Cb');
  });

  it('a CORS preflight without a token when the policy allows it, and nothing else', async () => {
    const preflight = await call('/cors/x', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }, 'OPTIONS');
    expect(preflight.status).toBe(200);
    expect((await call('/cors/x', { origin: 'https://app.example.com' }, 'OPTIONS')).status).toBe(401);
    expect((await call('/m2m/x', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }, 'OPTIONS')).status).toBe(401);
  });
});

describe('the access log', () => {
  it('records the policy, the decision, its reason and the caller, and never the token', async () => {
    const token = mint.mint();
    await call('/m2m/logged', bearer(token));
    const allowed = await proxy.waitForLog((line) => line.msg === 'request' && line.path === '/m2m/logged');
    expect(allowed).toMatchObject({ policy: 'default/machines', decision: 'allow', reason: 'TOKEN_VALID', sub: mint.clientIds.machine, clientId: mint.clientIds.machine, status: 200 });
    await call('/m2m/denied', bearer(mint.mint({ scope: 'nothing' })));
    const denied = await proxy.waitForLog((line) => line.msg === 'request' && line.path === '/m2m/denied');
    expect(denied).toMatchObject({ policy: 'default/machines', decision: 'deny', reason: 'SCOPE_MISSING', status: 403 });
    expect(JSON.stringify(proxy.logs)).not.toContain(token.split('.')[2]);
  });
});
