// What an upstream learns about the caller, end to end with `portcullis standalone` as its own
// process: X-Portcullis-Assertion verified with jose against the JWKS fetched over HTTP (from
// the proxy listener, on any host, and from the ops listener), for a bearer token of the
// Cognito-shaped minter and for a session made by signing in at the real oidc-provider; every
// claim checked; the keys rotated by restarting with another --assertion-key; and the plain
// X-Portcullis-* headers, on by default, off per policy, never the client's.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { freePort } from '../support/ports.ts';
import { newKey, send, signInThroughProxy, upstreamHeaders, writeKeys, type KeyFile } from './support.ts';

const alice = DEMO_USERS[0]!;
const SCOPE = 'default-m2m-resource-server/read';
/** Every claim an assertion may carry; which ones it carries depends on the caller. */
const CLAIMS = ['iss', 'aud', 'sub', 'iat', 'exp', 'email', 'groups', 'client_id', 'scope', 'auth', 'policy', 'route'];

let dir: string;
let echo: EchoServer;
let mint: CognitoMint;
let idp: CognitoLikeProvider;
let proxy: PortcullisProcess;
let port: number;
let site: string;
let keyA: KeyFile;
let keyB: KeyFile;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const proxyJWKS = () => createRemoteJWKSet(new URL(`${proxy.url}/.well-known/portcullis/jwks.json`));
const opsJWKS = () => createRemoteJWKSet(new URL(`${proxy.opsURL}/.well-known/jwks.json`));

async function verify(assertion: string | undefined, audience: string, keys = proxyJWKS(), issuer = 'portcullis'): Promise<JWTPayload> {
  expect(assertion).toEqual(expect.any(String));
  const { payload, protectedHeader } = await jwtVerify(assertion!, keys, { issuer, audience, algorithms: ['ES256'] });
  expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid: expect.any(String) });
  expect(Object.keys(payload).filter((claim) => !CLAIMS.includes(claim))).toEqual([]);
  expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  expect(payload.exp! - payload.iat!).toBeGreaterThan(0);
  expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(40);
  return payload;
}

async function startProxy(args: readonly string[] = []): Promise<PortcullisProcess> {
  const started = await startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${port}`, ...args]);
  for (const name of ['machines', 'users', 'web', 'unsigned', 'plain']) {
    await started.waitForLog((line) => line.policy === `default/${name}` && line.condition === 'Ready' && line.status === 'True');
  }
  return started;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-identity-'));
  port = await freePort();
  site = `http://127.0.0.1:${port}`;
  [echo, mint, idp, keyA, keyB] = await Promise.all([
    startEchoServer(),
    startCognitoMint(),
    startCognitoLikeProvider({ webClient: { redirectURIs: [`${site}/oauth2/callback`], logoutURIs: [`${site}/`] } }),
    newKey('sec1'),
    newKey('pkcs8'),
  ]);
  const machines = (extra: string) => `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
${extra}`;
  writeFileSync(
    join(dir, 'manifests.yaml'),
    secretYAML('keys', { web: idp.clients.web.clientSecret, session: 'k'.repeat(48) }) +
      policyYAML('machines', machines('  forward: {headers: {X-Client: client_id}}')) +
      // ID tokens as bearer tokens: a user's email and groups.
      policyYAML('users', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  bearer: {tokenUse: any}
`) +
      policyYAML('web', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: keys, key: web}
  scopes: [openid, email, profile]
  browser:
    session: {secretRef: {name: keys, key: session}}
`) +
      policyYAML('unsigned', machines('  forward: {assertion: false}')) +
      policyYAML('plain', machines('  forward: {defaultHeaders: false, headers: {X-Who: sub}}')) +
      routeYAML('echo', `  rules:
    - matches: [{path: {value: /machines}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /users}}]
      policyRef: {name: users}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /web}}]
      policyRef: {name: web}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /unsigned}}]
      policyRef: {name: unsigned}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /plain}}]
      policyRef: {name: plain}
      backends: [{url: "${echo.url}"}]
    # Everything else is public, /.well-known/ included: the proxy's own paths still win.
    - matches: [{path: {value: /}}]
      public: true
      backends: [{url: "${echo.url}"}]
`),
  );
  proxy = await startProxy(['--assertion-key', writeKeys(dir, 'a.pem', [keyA])]);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), mint?.close(), idp?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('X-Portcullis-Assertion', () => {
  it('carries a machine token’s identity, signed ES256 with the configured key, verifiable against both JWKS', async () => {
    const token = mint.mint();
    const headers = upstreamHeaders(await send(`${site}/machines/x`, { host: 'API.Example.COM:8443', ...bearer(token) }));
    const assertion = headers['x-portcullis-assertion'];
    expect(decodeProtectedHeader(assertion!).kid).toBe(keyA.kid);
    const payload = await verify(assertion, 'api.example.com');
    expect(payload).toEqual({
      iss: 'portcullis',
      aud: 'api.example.com',
      sub: mint.clientIds.machine,
      iat: expect.any(Number),
      exp: expect.any(Number),
      groups: [],
      client_id: mint.clientIds.machine,
      scope: SCOPE,
      auth: 'bearer',
      policy: 'default/machines',
      route: 'default/echo',
    });
    // The ops listener publishes the same keys.
    expect(await verify(assertion, 'api.example.com', opsJWKS())).toEqual(payload);
    // Another host's upstream would refuse it.
    await expect(jwtVerify(assertion!, proxyJWKS(), { issuer: 'portcullis', audience: 'other.example.com' })).rejects.toThrow(/aud/);
  });

  it('carries a user’s verified email and groups, and leaves out an email the provider did not verify', async () => {
    const verified = upstreamHeaders(await send(`${site}/users/x`, { host: 'app.example.com', ...bearer(mint.mint({}, { kind: 'id' })) }));
    expect(await verify(verified['x-portcullis-assertion'], 'app.example.com')).toEqual({
      iss: 'portcullis',
      aud: 'app.example.com',
      sub: mint.user.sub,
      iat: expect.any(Number),
      exp: expect.any(Number),
      email: mint.user.email,
      groups: [...mint.user.groups],
      client_id: mint.clientIds.web,
      auth: 'bearer',
      policy: 'default/users',
      route: 'default/echo',
    });

    const unverified = upstreamHeaders(await send(`${site}/users/x`, { host: 'app.example.com', ...bearer(mint.mint({ email_verified: false }, { kind: 'id' })) }));
    const payload = await verify(unverified['x-portcullis-assertion'], 'app.example.com');
    expect(payload.email).toBeUndefined();
    expect(payload.sub).toBe(mint.user.sub);
    expect(unverified['x-portcullis-email']).toBeUndefined();
  });

  it('carries a session’s identity: signed in at the provider through the proxy', async () => {
    const cookie = await signInThroughProxy(site, '/web/session', alice);
    const headers = upstreamHeaders(await send(`${site}/web/session`, { host: `127.0.0.1:${port}`, cookie }));
    const payload = await verify(headers['x-portcullis-assertion'], '127.0.0.1');
    expect(payload).toEqual({
      iss: 'portcullis',
      aud: '127.0.0.1',
      sub: alice.sub,
      iat: expect.any(Number),
      exp: expect.any(Number),
      email: alice.email,
      groups: [...alice.groups],
      client_id: idp.clients.web.clientId,
      auth: 'session',
      policy: 'default/web',
      route: 'default/echo',
    });
    expect(await verify(headers['x-portcullis-assertion'], '127.0.0.1', opsJWKS())).toEqual(payload);
    expect(headers['x-portcullis-subject']).toBe(alice.sub);
    expect(headers['x-portcullis-email']).toBe(alice.email);
    expect(headers['x-portcullis-groups']).toBe('admins,users');
    expect(headers['x-portcullis-client-id']).toBe(idp.clients.web.clientId);
  }, 30_000);

  it('is signed once and reused while at least half its minute is left, per caller, host and route', async () => {
    const token = mint.mint();
    const first = upstreamHeaders(await send(`${site}/machines/x`, { host: 'a.example.com', ...bearer(token) }))['x-portcullis-assertion'];
    const again = upstreamHeaders(await send(`${site}/machines/y`, { host: 'a.example.com', ...bearer(token) }))['x-portcullis-assertion'];
    expect(again).toBe(first);
    const otherHost = upstreamHeaders(await send(`${site}/machines/x`, { host: 'b.example.com', ...bearer(token) }))['x-portcullis-assertion'];
    expect(otherHost).not.toBe(first);
    expect((await verify(otherHost, 'b.example.com')).aud).toBe('b.example.com');
    const back = upstreamHeaders(await send(`${site}/machines/x`, { host: 'a.example.com', ...bearer(token) }))['x-portcullis-assertion'];
    expect(back).toBe(first);
    const otherCaller = upstreamHeaders(await send(`${site}/users/x`, { host: 'a.example.com', ...bearer(mint.mint({}, { kind: 'id' })) }))['x-portcullis-assertion'];
    expect((await verify(otherCaller, 'a.example.com')).sub).toBe(mint.user.sub);
  });

  it('is left out where the policy says forward.assertion: false', async () => {
    const headers = upstreamHeaders(await send(`${site}/unsigned/x`, bearer(mint.mint())));
    expect(headers['x-portcullis-assertion']).toBeUndefined();
    expect(headers['x-portcullis-subject']).toBe(mint.clientIds.machine);
  });

  it('never reaches the upstream from the client: stripped on public routes, replaced on protected ones', async () => {
    const forged = mint.mint(); // any JWT-looking value
    const publicHeaders = upstreamHeaders(await send(`${site}/public`, { 'x-portcullis-assertion': forged, x_portcullis_assertion: forged, 'X-Portcullis-Subject': 'admin' }));
    expect(Object.keys(publicHeaders).filter((name) => name.replaceAll('_', '-').startsWith('x-portcullis-'))).toEqual([]);

    const unsigned = upstreamHeaders(await send(`${site}/unsigned/x`, { 'x-portcullis-assertion': forged, ...bearer(mint.mint()) }));
    expect(unsigned['x-portcullis-assertion']).toBeUndefined();
    const signed = upstreamHeaders(await send(`${site}/machines/x`, { 'X-Portcullis-Assertion': forged, ...bearer(mint.mint()) }));
    expect(signed['x-portcullis-assertion']).not.toBe(forged);
    await verify(signed['x-portcullis-assertion'], '127.0.0.1');
  });
});

describe('the README', () => {
  const blocks = (file: string, language: string) => [...readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(new RegExp(`^\`\`\`${language}\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1]!);

  it('shows the same verification snippets as docs/identity.md', () => {
    for (const language of ['js', 'python']) {
      expect(blocks('README.md', language)).toHaveLength(1);
      expect(blocks('docs/identity.md', language)).toEqual(blocks('README.md', language));
    }
  });

  it('verifies an assertion with its Node snippet, as written but for the URL and the host', async () => {
    const [snippet] = blocks('README.md', 'js') as [string];
    const assertion = upstreamHeaders(await send(`${site}/users/x`, { host: 'app.example.com', ...bearer(mint.mint({}, { kind: 'id' })) }))['x-portcullis-assertion']!;
    expect(snippet).toContain("audience: 'app.example.com'");
    const program = `const req = { headers: { 'x-portcullis-assertion': ${JSON.stringify(assertion)} } };\n${snippet.replace('http://portcullis-metrics.portcullis-system:8081', proxy.opsURL)}`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', program], { cwd: REPO_ROOT }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))),
    );
    expect(output.trim()).toBe(`${mint.user.sub} ${mint.user.email} [ ${mint.user.groups.map((g) => `'${g}'`).join(', ')} ]`);
  });
});

describe('the JWKS', () => {
  it('is served on every host, before matching (a public catch-all Route does not get it), by GET only', async () => {
    for (const host of ['anything.example', `127.0.0.1:${port}`, 'UPPER.example:1']) {
      const answer = await send(`${site}/.well-known/portcullis/jwks.json`, { host });
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(JSON.parse(answer.body)).toEqual({ keys: [{ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: keyA.kid, alg: 'ES256', use: 'sig' }] });
    }
    expect(echo.requests.some((seen) => seen.path.startsWith('/.well-known/'))).toBe(false);
    const post = await send(`${site}/.well-known/portcullis/jwks.json`, {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    // The ops listener's copy is the same document.
    expect(JSON.parse((await send(`${proxy.opsURL}/.well-known/jwks.json`)).body)).toEqual(JSON.parse((await send(`${site}/.well-known/portcullis/jwks.json`)).body));
  });
});

describe('plain identity headers', () => {
  it('are sent by default, escaped, beside the policy’s own', async () => {
    const machine = upstreamHeaders(await send(`${site}/machines/x`, bearer(mint.mint())));
    expect(machine['x-portcullis-subject']).toBe(mint.clientIds.machine);
    expect(machine['x-portcullis-client-id']).toBe(mint.clientIds.machine);
    expect(machine['x-portcullis-email']).toBeUndefined();
    expect(machine['x-portcullis-groups']).toBeUndefined();
    expect(machine['x-client']).toBe(mint.clientIds.machine);

    const token = mint.mint({ 'cognito:groups': ['a,b', 'ops\r\nx-evil: 1', 'snow☃'] }, { kind: 'id' });
    const user = upstreamHeaders(await send(`${site}/users/x`, bearer(token)));
    expect(user['x-portcullis-groups']).toBe('a%2Cb,ops%0D%0Ax-evil: 1,snow%E2%98%83');
    expect(user['x-evil']).toBeUndefined();
    expect(user['x-portcullis-email']).toBe(mint.user.email);
    expect(user['x-portcullis-client-id']).toBe(mint.clientIds.web);
    // The assertion carries the groups as they are: JSON needs no escaping of ours.
    expect((await verify(user['x-portcullis-assertion'], '127.0.0.1')).groups).toEqual(['a,b', 'ops\r\nx-evil: 1', 'snow☃']);
  });

  it('are left out with forward.defaultHeaders: false; mapped headers and the assertion stay', async () => {
    const headers = upstreamHeaders(await send(`${site}/plain/x`, bearer(mint.mint())));
    for (const name of ['x-portcullis-subject', 'x-portcullis-email', 'x-portcullis-groups', 'x-portcullis-client-id']) expect(headers[name]).toBeUndefined();
    expect(headers['x-who']).toBe(mint.clientIds.machine);
    expect((await verify(headers['x-portcullis-assertion'], '127.0.0.1')).sub).toBe(mint.clientIds.machine);
  });
});

describe('key rotation (standalone: a restart with another --assertion-key)', () => {
  it('signs with the first key of the file and publishes every key; a key dropped from the file stops verifying', async () => {
    const before = upstreamHeaders(await send(`${site}/machines/x`, bearer(mint.mint())))['x-portcullis-assertion']!;
    expect(decodeProtectedHeader(before).kid).toBe(keyA.kid);

    // B first: B signs, A is still published, so what A signed a moment ago still verifies.
    await proxy.stop();
    proxy = await startProxy(['--assertion-key', writeKeys(dir, 'ba.pem', [keyB, keyA]), '--assertion-issuer', 'https://portcullis.example']);
    const after = upstreamHeaders(await send(`${site}/machines/x`, bearer(mint.mint())))['x-portcullis-assertion']!;
    expect(decodeProtectedHeader(after).kid).toBe(keyB.kid);
    expect((await verify(after, '127.0.0.1', proxyJWKS(), 'https://portcullis.example')).sub).toBe(mint.clientIds.machine);
    expect((await verify(before, '127.0.0.1')).sub).toBe(mint.clientIds.machine);
    expect((JSON.parse((await send(`${proxy.opsURL}/.well-known/jwks.json`)).body) as { keys: { kid: string }[] }).keys.map((key) => key.kid)).toEqual([keyB.kid, keyA.kid]);

    // A gone: its assertions no longer verify; B's do.
    await proxy.stop();
    proxy = await startProxy(['--assertion-key', writeKeys(dir, 'b.pem', [keyB])]);
    await expect(jwtVerify(before, proxyJWKS(), { issuer: 'portcullis', audience: '127.0.0.1' })).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    await verify(upstreamHeaders(await send(`${site}/machines/x`, bearer(mint.mint())))['x-portcullis-assertion'], '127.0.0.1');
  }, 60_000);

  it('generates a key at start without --assertion-key, and says so', async () => {
    await proxy.stop();
    proxy = await startProxy();
    const line = await proxy.waitForLog((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('no --assertion-key'));
    const jwks = JSON.parse((await send(`${site}/.well-known/portcullis/jwks.json`)).body) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toEqual([line.kid]);
    const assertion = upstreamHeaders(await send(`${site}/machines/x`, bearer(mint.mint())))['x-portcullis-assertion'];
    expect(decodeProtectedHeader(assertion!).kid).toBe(line.kid);
    await verify(assertion, '127.0.0.1');
  }, 60_000);
});
