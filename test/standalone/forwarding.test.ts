// The proxy as its own process, forwarding to a real upstream that records what it received.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { routeYAML } from '../support/manifests.ts';
import { rawRequest } from '../support/raw-http.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let echo: EchoServer;
let slow: EchoServer;
let proxy: PortcullisProcess;
let trusting: PortcullisProcess;

beforeAll(async () => {
  echo = await startEchoServer();
  slow = await startEchoServer();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-forwarding-'));
  writeFileSync(
    join(dir, 'routes.yaml'),
    routeYAML('public', `  rules:
    - matches: [{path: {value: /anything}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {type: PathPrefix, value: /v2}}]
      rewrite: {path: {type: ReplacePrefixMatch, value: /anything/api}, hostname: rewritten.internal}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /slow}}]
      timeouts: {backendRequest: 300ms}
      rewrite: {path: {type: ReplacePrefixMatch, value: /delay/3000}}
      backends: [{url: "${slow.url}"}]
    - matches: [{path: {value: /down}}]
      backends: [{url: "http://127.0.0.1:9"}]
    - matches: [{path: {value: /drained}}]
      backends: [{service: {name: idle, port: 80}}]
    - matches: [{path: {value: /protected}}]
      policyRef: {name: users}
      backends: [{url: "${echo.url}"}]`) +
      `apiVersion: v1
kind: Service
metadata: {name: idle}
spec: {ports: [{port: 80}]}
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: users}
spec:
  issuer: http://127.0.0.1:9/pool
  clientID: web
  forward: {headers: {X-User-Email: email, X-User-Id: sub}}
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir]);
  trusting = await startPortcullis(['standalone', '-f', dir, '--trust-proxy', '127.0.0.0/8']);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), trusting?.stop()]);
  await Promise.all([echo?.close(), slow?.close()]);
});

const lastSeen = () => echo.requests[echo.requests.length - 1]!;

describe('forwarding', () => {
  it('forwards to the upstream and relays its answer, Host preserved', async () => {
    const response = await fetch(`${proxy.url}/anything/test?x=1`, { headers: { 'x-custom': 'kept' } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { path: string; query: string; headers: Record<string, string> };
    expect(body).toMatchObject({ path: '/anything/test', query: 'x=1' });
    expect(body.headers.host).toBe(new URL(proxy.url).host);
    expect(body.headers['x-custom']).toBe('kept');
  });

  it('removes hop-by-hop headers and those named in Connection', async () => {
    // fetch() refuses to send Connection and TE itself, so this goes over a raw socket.
    const response = await rawRequest(proxy.url, `GET /anything/hop HTTP/1.1\r\nHost: test\r\nConnection: x-drop-me\r\nX-Drop-Me: 1\r\nTE: trailers\r\nProxy-Connection: x\r\nKeep-Alive: timeout=5`);
    expect(response.status).toBe(200);
    const headers = lastSeen().headers;
    expect(headers['x-drop-me']).toBeUndefined();
    expect(headers.te).toBeUndefined();
    expect(headers['proxy-connection']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
  });

  it('replaces X-Forwarded-* from an untrusted peer', async () => {
    await fetch(`${proxy.url}/anything/xff`, { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=6.6.6.6' } });
    const headers = lastSeen().headers;
    expect(headers['x-forwarded-for']).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe(new URL(proxy.url).host);
    expect(headers.forwarded).toBeUndefined();
  });

  it('extends X-Forwarded-* from a trusted peer', async () => {
    await fetch(`${trusting.url}/anything/xff`, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example' } });
    const headers = lastSeen().headers;
    expect(headers['x-forwarded-for']).toMatch(/^203\.0\.113\.7, (::ffff:)?127\.0\.0\.1$/);
    expect(headers['x-forwarded-proto']).toBe('https');
    expect(headers['x-forwarded-host']).toBe('public.example');
  });

  it('strips spoofed identity headers on a public route, in any case and with _ for -', async () => {
    const response = await fetch(`${proxy.url}/anything/spoof`, {
      headers: { 'X-User-Email': 'ceo@example.com', 'x-user_id': 'admin', 'X-PORTCULLIS-USER': 'root', 'x-portcullis_policy': 'none' },
    });
    expect(response.status).toBe(200);
    const raw = lastSeen().rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    expect(raw).not.toContain('x-user-email');
    expect(raw).not.toContain('x-user_id');
    expect(raw).not.toContain('x-portcullis-user');
    expect(raw).not.toContain('x-portcullis_policy');
  });

  it('rewrites the path prefix and the Host', async () => {
    await fetch(`${proxy.url}/v2/users?page=2`);
    expect(lastSeen()).toMatchObject({ path: '/anything/api/users', query: 'page=2' });
    expect(lastSeen().headers.host).toBe('rewritten.internal');
  });

  it('streams a body of any content type and size past fastify (no 415, no body limit)', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    const response = await fetch(`${proxy.url}/anything/upload`, { method: 'PUT', body, headers: { 'content-type': 'application/x-portcullis-weird' } });
    expect(response.status).toBe(200);
    expect(lastSeen().body.length).toBe(body.length);
  });

  it('answers 404 as JSON for API clients and as a page for browsers', async () => {
    const api = await fetch(`${proxy.url}/nowhere`);
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toBe('application/json');
    expect(await api.json()).toMatchObject({ error: { code: 'NOT_FOUND', status: 404 } });
    const page = await fetch(`${proxy.url}/nowhere`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<code>NOT_FOUND<\/code>/);
  });

  it('fails closed: a protected rule answers 503 and the upstream sees nothing', async () => {
    const before = echo.requests.length;
    const response = await fetch(`${proxy.url}/protected/data`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: 'POLICY_NOT_READY' } });
    expect(echo.requests.length).toBe(before);
  });

  it('answers 502 when the upstream is unreachable', async () => {
    const response = await fetch(`${proxy.url}/down`);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: 'UPSTREAM_CONNECT_FAILED' } });
  });

  it('answers 503 when no backend has a ready endpoint', async () => {
    const response = await fetch(`${proxy.url}/drained`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: 'NO_HEALTHY_BACKEND' } });
  });

  it('answers 504 when the upstream is slower than the rule allows', async () => {
    const response = await fetch(`${proxy.url}/slow`);
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ error: { code: 'UPSTREAM_TIMEOUT' } });
  });

  it('logs one line per request with the route and status, and redacts credentials in the query', async () => {
    await fetch(`${proxy.url}/anything/cb?code=SECRETCODE&state=SECRETSTATE&keep=1`);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && String(l.path).startsWith('/anything/cb'));
    expect(line).toMatchObject({ route: 'default/public/rules[0]/matches[0]', status: 200, method: 'GET', path: '/anything/cb?code=[redacted]&state=[redacted]&keep=1' });
    expect(typeof line.durationMs).toBe('number');
    expect(line.upstream).toBe(echo.url);
    expect(JSON.stringify(proxy.logs)).not.toContain('SECRETCODE');
  });

  it('serves /healthz and /readyz on the ops listener', async () => {
    expect((await fetch(`${proxy.opsURL}/healthz`)).status).toBe(200);
    const ready = await fetch(`${proxy.opsURL}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });
});
