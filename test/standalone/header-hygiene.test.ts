// Header hygiene with the real `portcullis standalone` process (docs/reference.md, "Headers and
// cookies"): other proxies' identity headers never reach an upstream, on public routes too, and
// --strip-request-header adds to them; an upstream cannot set the proxy's cookies; a request with
// two Host headers, or a Host that disagrees with its absolute-form target, gets 400.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { send } from '../proxy/harness.ts';

let echo: EchoServer;
let proxy: PortcullisProcess;

beforeAll(async () => {
  echo = await startEchoServer();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-hygiene-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    // A browser policy puts its cookie names in the table; its provider need not answer for that.
    secretYAML('web', { 'client-secret': 'not-used-here' }) +
      policyYAML('web', `  issuer: http://127.0.0.1:9/pool
  clientID: web
  clientSecretRef: {name: web, key: client-secret}
  browser: {session: {cookieName: _sess}}`) +
      routeYAML('site', `  rules:
    - matches: [{path: {value: /public}}, {path: {value: /response-headers}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /web}}]
      policyRef: {name: web}
      backends: [{url: "${echo.url}"}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--strip-request-header', 'X-Corp-User', '--strip-request-header=x-corp-auth-*']);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** The header names the upstream received with the last request, as sent on the wire (lower-cased). */
function receivedNames(): string[] {
  const raw = echo.requests.at(-1)!.rawHeaders;
  return raw.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

/** Sends these header lines (name as written) to a public route; answers what the upstream received. */
async function throughPublicRoute(names: readonly string[]): Promise<string[]> {
  const before = echo.requests.length;
  const response = await rawRequest(proxy.url, ['GET /public/x HTTP/1.1', 'Host: app.example', ...names.map((name) => `${name}: forged`)].join('\r\n'));
  expect(response.status).toBe(200);
  expect(echo.requests.length).toBe(before + 1);
  return receivedNames();
}

describe("other proxies' identity headers", () => {
  const listed = [
    // AWS ALB
    'X-Amzn-Oidc-Data', 'X-Amzn-Oidc-Identity', 'X-Amzn-Oidc-Accesstoken', 'x-amzn-oidc-whatever-comes-next',
    // oauth2-proxy
    'X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username', 'X-Forwarded-Access-Token',
    'X-Auth-Request-User', 'X-Auth-Request-Email', 'X-Auth-Request-Groups', 'X-Auth-Request-Preferred-Username', 'X-Auth-Request-Access-Token',
    // REMOTE_USER setups
    'Remote-User', 'X-Remote-User', 'X-Remote-Group',
    // Pomerium
    'X-Pomerium-Jwt-Assertion', 'X-Pomerium-Claim-Email',
    // ours
    'X-Portcullis-Subject',
  ];

  it('never reach the upstream of a public route, whatever their case', async () => {
    const names = [...listed, ...listed.map((name) => name.toUpperCase())];
    const received = await throughPublicRoute([...names, 'X-Kept']);
    expect(received.filter((name) => names.some((sent) => sent.toLowerCase() === name))).toEqual([]);
    expect(received).toContain('x-kept');
  });

  it('nor spelt with "_" for "-"', async () => {
    const underscored = listed.map((name) => name.replaceAll('-', '_'));
    const received = await throughPublicRoute(underscored);
    expect(received.filter((name) => underscored.some((sent) => sent.toLowerCase() === name))).toEqual([]);
  });

  it('leave headers that merely look alike', async () => {
    const alike = ['X-Amzn-Trace-Id', 'X-Forwarded-Username', 'X-Remote-Addr', 'X-Pomerium', 'X-Auth-Request'];
    const received = await throughPublicRoute(alike);
    for (const name of alike) expect(received).toContain(name.toLowerCase());
  });

  it('--strip-request-header adds a name and a prefix', async () => {
    const received = await throughPublicRoute(['X-Corp-User', 'x_corp_user', 'X-Corp-Auth-Token', 'X-Corp-Auth-Groups', 'X-Corp-Other', 'X-Corp-Auth']);
    expect(received.filter((name) => name.startsWith('x-corp') || name.startsWith('x_corp'))).toEqual(['x-corp-other', 'x-corp-auth']);
  });
});

describe("the upstream's Set-Cookie", () => {
  it("for the proxy's session cookie, its chunks and its login attempts never reaches the client; the upstream's own cookies do", async () => {
    const lines = ['_sess=chosen-by-the-upstream; Path=/', '_sess_0=2~a', '_sess_1=b', '_sess_login_0123456789abcdef=x', '_sess_restarts=1', 'app=1; Path=/; HttpOnly', '_session=theirs'];
    const query = lines.map((line) => `set-cookie=${encodeURIComponent(line)}`).join('&');
    const reply = await send(`${proxy.url}/response-headers?${query}`);
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual(['app=1; Path=/; HttpOnly', '_session=theirs']);
  });
});

describe('Host', () => {
  it('two Host headers: 400 HOST_DUPLICATE, and the upstream sees nothing', async () => {
    const before = echo.requests.length;
    const response = await rawRequest(proxy.url, 'GET /public/x HTTP/1.1\r\nHost: app.example\r\nHost: admin.example');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error).toMatchObject({ code: 'HOST_DUPLICATE', status: 400 });
    expect(echo.requests.length).toBe(before);
  });

  it('an absolute-form target that disagrees with Host: 400 HOST_MISMATCH, and the upstream sees nothing', async () => {
    const before = echo.requests.length;
    const response = await rawRequest(proxy.url, 'GET http://a.example/public/x HTTP/1.1\r\nHost: b.example');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error).toMatchObject({ code: 'HOST_MISMATCH', status: 400 });
    expect(echo.requests.length).toBe(before);
  });

  it('one Host header, and an absolute-form target that agrees with it, are served', async () => {
    expect((await rawRequest(proxy.url, 'GET /public/x HTTP/1.1\r\nHost: app.example')).status).toBe(200);
    expect((await rawRequest(proxy.url, 'GET http://app.example/public/x HTTP/1.1\r\nHost: app.example')).status).toBe(200);
  });
});
