// Request ids end to end, with the proxy as its own process: every answer carries X-Request-Id
// (the upstream's 2xx, our errors, a sign-in redirect, an upgrade relayed or refused), the
// upstream receives the same id, and the access log records it; a client's own id is kept only
// from a trusted proxy, and only when it looks like one. And the log says what the client saw:
// its reason is the answer's code.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let echo: EchoServer;
let mint: CognitoMint;
let wss: WebSocketServer;
let proxy: PortcullisProcess;
let trusting: PortcullisProcess;

beforeAll(async () => {
  echo = await startEchoServer();
  mint = await startCognitoMint();
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const wsOrigin = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-request-id-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: web}
spec:
  issuer: "${mint.issuer}"
  provider: Cognito
  clientID: "${mint.clientIds.web}"
  browser: {}
  bearer: {}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ids}
spec:
  rules:
    - public: true
      matches: [{path: {value: /anything}}, {path: {value: /response-headers}}]
      backends: [{url: "${echo.url}"}]
    - public: true
      matches: [{path: {value: /down}}]
      backends: [{url: "http://127.0.0.1:9"}]
    - public: true
      matches: [{path: {value: /ws}}]
      backends: [{url: "${wsOrigin}"}]
    - matches: [{path: {value: /app}}]
      policyRef: {name: web}
      backends: [{url: "${echo.url}"}]
`,
  );
  [proxy, trusting] = await Promise.all([startPortcullis(['standalone', '-f', dir]), startPortcullis(['standalone', '-f', dir, '--trust-proxy', '127.0.0.0/8'])]);
  await Promise.all([proxy, trusting].map((p) => p.waitForLog((line) => line.policy === 'default/web' && line.status === 'True')));
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), trusting?.stop()]);
  for (const client of wss?.clients ?? []) client.terminate();
  await Promise.all([echo?.close(), mint?.close(), new Promise((resolve) => wss?.close(resolve))]);
});

const lastSeen = () => echo.requests[echo.requests.length - 1]!;
const accessLog = (of: PortcullisProcess, requestId: string) => of.waitForLog((line) => line.msg === 'request' && line.requestId === requestId, 5_000);

/** A request as a browser's navigation sends it (fetch() would say Sec-Fetch-Mode: cors). */
function navigate(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } }, (res) => {
      res.resume();
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('X-Request-Id', () => {
  it("is on the upstream's 2xx, is what the upstream received, and is in the access log", async () => {
    const response = await fetch(`${proxy.url}/anything/ok`);
    expect(response.status).toBe(200);
    const id = response.headers.get('x-request-id')!;
    expect(id).toMatch(UUID);
    expect(lastSeen().headers['x-request-id']).toBe(id);
    expect(await accessLog(proxy, id)).toMatchObject({ status: 200, path: '/anything/ok' });
  });

  it("replaces the upstream's own X-Request-Id in its answer, so the client sees the id we logged", async () => {
    const response = await fetch(`${proxy.url}/response-headers?x-request-id=chosen-by-upstream`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe(lastSeen().headers['x-request-id']);
    expect(response.headers.get('x-request-id')).toMatch(UUID);
  });

  it('replaces the one a client sends, unless the client is a trusted proxy', async () => {
    const untrusted = await fetch(`${proxy.url}/anything/mine`, { headers: { 'x-request-id': 'client-chosen-1' } });
    const replaced = untrusted.headers.get('x-request-id')!;
    expect(replaced).toMatch(UUID);
    expect(lastSeen().headers['x-request-id']).toBe(replaced);

    const trusted = await fetch(`${trusting.url}/anything/theirs`, { headers: { 'x-request-id': 'lb-7f3a;hop=2' } });
    expect(trusted.headers.get('x-request-id')).toBe('lb-7f3a;hop=2');
    expect(lastSeen().headers['x-request-id']).toBe('lb-7f3a;hop=2');
    expect(await accessLog(trusting, 'lb-7f3a;hop=2')).toMatchObject({ status: 200 });
  });

  it("replaces a trusted proxy's id that does not look like one: too long, or not printable ASCII", async () => {
    for (const sent of ['x'.repeat(129), 'two words', 'caf\u00e9']) {
      const response = await fetch(`${trusting.url}/anything/odd`, { headers: { 'x-request-id': sent } });
      expect({ sent, id: response.headers.get('x-request-id') }).toEqual({ sent, id: expect.stringMatching(UUID) });
      expect(lastSeen().headers['x-request-id']).toBe(response.headers.get('x-request-id'));
    }
    expect((await fetch(`${trusting.url}/anything/odd`, { headers: { 'x-request-id': 'x'.repeat(128) } })).headers.get('x-request-id')).toBe('x'.repeat(128));
  });

  it('is on our own errors, the same as in their body', async () => {
    for (const [path, status] of [['/nowhere', 404], ['/down', 502]] as const) {
      const response = await fetch(`${proxy.url}${path}`);
      expect(response.status).toBe(status);
      const body = (await response.json()) as { error: { requestId: string } };
      expect(response.headers.get('x-request-id')).toBe(body.error.requestId);
      expect(await accessLog(proxy, body.error.requestId)).toMatchObject({ status });
    }
  });

  it('is on the redirect to sign in', async () => {
    const response = await navigate(`${proxy.url}/app/page`);
    expect(response.statusCode).toBe(302);
    const id = String(response.headers['x-request-id']);
    expect(id).toMatch(UUID);
    expect(await accessLog(proxy, id)).toMatchObject({ status: 302, decision: 'redirect', reason: 'SESSION_MISSING' });
  });

  it('is on a relayed WebSocket upgrade, and on a refused one', async () => {
    const client = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws/room`);
    const [upgrade] = (await once(client, 'upgrade')) as [IncomingMessage];
    expect(upgrade.statusCode).toBe(101);
    const id = String(upgrade.headers['x-request-id']);
    expect(id).toMatch(UUID);
    client.close();

    const refused = new WebSocket(`${proxy.url.replace('http', 'ws')}/nowhere`);
    refused.on('error', () => {});
    const [, answer] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(answer.statusCode).toBe(404);
    expect(String(answer.headers['x-request-id'])).toMatch(UUID);
    answer.resume();
    refused.terminate();
  });
});

describe('the access log and the answer agree', () => {
  it("logs the body's code as the reason, and the finer reason as cause", async () => {
    const response = await fetch(`${proxy.url}/app/data`);
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe('SESSION_REQUIRED');
    const line = await accessLog(proxy, body.error.requestId);
    expect(line).toMatchObject({ status: 401, decision: 'deny', code: 'SESSION_REQUIRED', reason: 'SESSION_REQUIRED', cause: 'SESSION_MISSING' });
  });

  it('does so for every refusal: a proxy error, a bearer token refused', async () => {
    const notFound = await fetch(`${proxy.url}/nowhere/at/all`);
    const notFoundBody = (await notFound.json()) as { error: { code: string; requestId: string } };
    expect(await accessLog(proxy, notFoundBody.error.requestId)).toMatchObject({ code: notFoundBody.error.code });

    const refused = await fetch(`${proxy.url}/app/data`, { headers: { authorization: 'Bearer invalid_token' } });
    expect(refused.status).toBe(401);
    const refusedBody = (await refused.json()) as { error: { code: string; requestId: string } };
    const line = await accessLog(proxy, refusedBody.error.requestId);
    expect(line).toMatchObject({ code: refusedBody.error.code, reason: refusedBody.error.code });
    expect(line.cause).toBeUndefined();
  });
});
