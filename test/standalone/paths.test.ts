// One path (docs/reference.md, "Matching"): every trick to reach a protected rule through a
// public one fails.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { rawRequest } from '../support/raw-http.ts';

let echo: EchoServer;
let proxy: PortcullisProcess;

beforeAll(async () => {
  echo = await startEchoServer();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-paths-'));
  writeFileSync(
    join(dir, 'routes.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: admins}
spec: {issuer: "http://127.0.0.1:9/pool", clientID: admin-client}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: site}
spec:
  rules:
    - matches: [{path: {value: /public}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /admin}}]
      policyRef: {name: admins}
      backends: [{url: "${echo.url}"}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: secure-host}
spec:
  hostnames: [secure.example.com]
  policyRef: {name: admins}
  rules: [{backends: [{url: "${echo.url}"}]}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: any-host}
spec:
  rules: [{matches: [{path: {value: /anything}}], backends: [{url: "${echo.url}"}]}]
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir]);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const get = (target: string, host = 'localhost') => rawRequest(proxy.url, `GET ${target} HTTP/1.1\r\nHost: ${host}`);

describe('a protected rule cannot be reached through a public one', () => {
  it.each([
    ['/public/../admin', 503],
    ['/public/%2e%2e/admin', 503],
    ['/public/%2E%2E/admin', 503],
    ['/public/.%2e/admin', 503],
    ['//admin', 503],
    ['/public/./../admin/x', 503],
    ['/public%2F..%2Fadmin', 400],
    ['/public/%2fadmin', 400],
    ['/public/..;/admin', 400],
    ['/public;x=1/../admin', 400],
    ['/public/%00/../admin', 400],
    ['/public/%252e%252e/admin', 400],
    ['/public/%25%32%65%25%32%65/admin', 400],
    ['/public\\..\\admin', 400],
    ['/public/%5c..%5cadmin', 400],
    ['/../admin', 400],
    ['/public/../../admin', 400],
    ['/public/%zz', 400],
  ])('%s answers %i and never reaches the upstream', async (target, status) => {
    const before = echo.requests.length;
    const response = await get(target);
    expect(response.status).toBe(status);
    expect(JSON.parse(response.body).error.code).toMatch(status === 503 ? /^POLICY_NOT_READY$/ : /^(TARGET|HOST)_/);
    expect(echo.requests.length).toBe(before);
  });

  it('forwards exactly the path it matched', async () => {
    const response = await get('/public/a/./b/../c%41%7e?q=%2e%2e');
    expect(response.status).toBe(200);
    expect(echo.requests[echo.requests.length - 1]).toMatchObject({ path: '/public/a/cA~', query: 'q=%2e%2e' });
  });
});

describe('hosts and absolute-form targets', () => {
  it.each(['secure.example.com', 'SECURE.Example.COM', 'secure.example.com.', 'secure.example.com:8080', 'Secure.Example.Com.:443'])('Host %s is the protected host', async (host) => {
    const before = echo.requests.length;
    const response = await get('/anything/x', host);
    expect(response.status).toBe(503);
    expect(echo.requests.length).toBe(before);
  });

  it('refuses an absolute-form target whose authority disagrees with Host', async () => {
    const response = await get('http://secure.example.com/anything/x', 'public.example.com');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error.code).toBe('HOST_MISMATCH');
  });

  it('routes an absolute-form target that agrees with Host like its origin form', async () => {
    const response = await get('http://public.example.com/anything/x', 'public.example.com');
    expect(response.status).toBe(200);
    expect(echo.requests[echo.requests.length - 1]!.path).toBe('/anything/x');
  });

  it('refuses a request without a Host', async () => {
    const response = await rawRequest(proxy.url, 'GET /anything/x HTTP/1.0');
    expect(response.status).toBe(400);
  });
});
