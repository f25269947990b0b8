// HTTP/2 at the edge, with plain HTTP: curl over HTTP/2 (ALPN on the HTTPS listener, prior
// knowledge on h2c), HTTP/1.1 and WebSockets still on the HTTPS listener, request bodies without
// a length, `:authority` as the host, identity headers stripped and connection headers kept out
// of HTTP/2 answers — through the real `portcullis` process, to the httpbin-like upstream.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as connectHttp2, constants, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import { startEchoServer, type EchoRecord, type EchoServer } from '../support/echo-server.ts';
import { routeYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';

const HOST = 'edge.example.test';
let pki: TestPki;
let echo: EchoServer;
let sockets: WebSocketServer;
let proxy: PortcullisProcess;

beforeAll(async () => {
  pki = createTestPki();
  echo = await startEchoServer();
  sockets = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  sockets.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo ${data.toString()}`)));
  await once(sockets, 'listening');
  const pair = pki.issue([HOST]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-h2-edge-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    `apiVersion: v1
kind: Secret
metadata: {name: edge}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(pair.cert).toString('base64')}
  tls.key: ${Buffer.from(pair.key).toString('base64')}
---
` +
      routeYAML('edge', `  hostnames: [${HOST}]
  tls: {secretRef: {name: edge}}
  rules:
    - matches: [{path: {value: /guarded}}]
      policyRef: {name: absent}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /ws}}]
      public: true
      backends: [{url: "http://127.0.0.1:${(sockets.address() as { port: number }).port}"}]
    - public: true
      backends: [{url: "${echo.url}"}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen-tls', '127.0.0.1:0', '--listen-h2c', '127.0.0.1:0']);
});

afterAll(async () => {
  await proxy?.stop();
  sockets?.close();
  await echo?.close();
  pki?.remove();
});

/** curl, as a user types it; resolves its stdout (`-i`: the status line and headers, then the body). */
function curl(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['--silent', '--show-error', '--include', ...args], { encoding: 'utf8' }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}: ${stderr}`)) : resolve(stdout))),
  );
}

function bodyOf(output: string): EchoRecord {
  return JSON.parse(output.slice(output.indexOf('\r\n\r\n') + 4)) as EchoRecord;
}

/** An HTTP/2 request with node:http2 (prior knowledge on h2c, ALPN over TLS): status, headers and body. */
async function h2(url: string, headers: Record<string, string | string[]>, body?: Buffer[]): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const session = connectHttp2(url, { ca: pki.caCert, servername: HOST });
  try {
    const stream = session.request({ ':authority': HOST, ...headers }, { endStream: body === undefined });
    for (const chunk of body ?? []) stream.write(chunk);
    if (body !== undefined) stream.end();
    const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    return { status: Number(response[':status']), headers: response, body: text };
  } finally {
    session.close();
  }
}

describe('HTTP/2 at the edge', () => {
  it('curl --http2 negotiates HTTP/2 on the HTTPS listener, and the request reaches the upstream as any other', async () => {
    const { port } = new URL(proxy.tlsURL!);
    const output = await curl(['--http2', '--cacert', pki.caFile, '--resolve', `${HOST}:${port}:127.0.0.1`, `https://${HOST}:${port}/anything?a=1`]);
    expect(output).toMatch(/^HTTP\/2 200 ?\r\n/);
    expect(output).toMatch(/\r\nx-request-id: /);
    const seen = bodyOf(output);
    expect(seen.path).toBe('/anything');
    expect(seen.headers.host).toBe(`${HOST}:${port}`);
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.rawHeaders.filter((name, i) => i % 2 === 0 && name.startsWith(':'))).toEqual([]);
  });

  it('curl --http2-prior-knowledge is served on the h2c listener', async () => {
    const { port } = new URL(proxy.h2cURL!);
    const output = await curl(['--http2-prior-knowledge', '--resolve', `${HOST}:${port}:127.0.0.1`, `http://${HOST}:${port}/anything`]);
    expect(output).toMatch(/^HTTP\/2 200 ?\r\n/);
    expect(bodyOf(output).headers['x-forwarded-proto']).toBe('http');
  });

  it('HTTP/1.1 keeps working on the HTTPS listener for a client that does not offer h2', async () => {
    const { port } = new URL(proxy.tlsURL!);
    const output = await curl(['--http1.1', '--cacert', pki.caFile, '--resolve', `${HOST}:${port}:127.0.0.1`, `https://${HOST}:${port}/anything`]);
    expect(output).toMatch(/^HTTP\/1.1 200 OK\r\n/);
  });

  it('WebSockets keep working over HTTP/1.1 on the HTTPS listener', async () => {
    const { port } = new URL(proxy.tlsURL!);
    // `servername` goes on to tls.connect (SNI), though ws's types do not name it.
    const options = { ca: pki.caCert, servername: HOST, headers: { host: HOST } } as ClientOptions;
    const socket = new WebSocket(`wss://127.0.0.1:${port}/ws`, options);
    await once(socket, 'open');
    socket.send('ping');
    const [data] = (await once(socket, 'message')) as [Buffer];
    socket.close();
    expect(data.toString()).toBe('echo ping');
  });

  it.each([
    ['h2c', () => proxy.h2cURL!],
    ['TLS', () => proxy.tlsURL!],
  ])('a request body without Content-Length streams through whole (%s)', async (_name, url) => {
    const chunks = [Buffer.alloc(100_000, 'a'), Buffer.alloc(2_000_000, 'b')];
    const answer = await h2(url(), { ':method': 'POST', ':path': '/upload' }, chunks);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).body.length).toBe(2_100_000);
  });

  it("matches by :authority, and refuses a Host header that disagrees with it", async () => {
    expect((await h2(proxy.h2cURL!, { ':path': '/anything' })).status).toBe(200);
    expect((await h2(proxy.h2cURL!, { ':path': '/anything', ':authority': 'other.example.test' })).status).toBe(404);
    const mismatch = await h2(proxy.h2cURL!, { ':path': '/anything', host: 'other.example.test' });
    expect(mismatch.status).toBe(400);
    expect(JSON.parse(mismatch.body).error.code).toBe('HOST_DUPLICATE');
  });

  it("strips the client's identity headers over HTTP/2 too", async () => {
    const answer = await h2(proxy.h2cURL!, { ':path': '/anything', 'x-portcullis-subject': 'forged' });
    expect(JSON.parse(answer.body).headers['x-portcullis-subject']).toBeUndefined();
  });

  it("relays the upstream's headers, repeated ones kept, without its connection headers", async () => {
    const answer = await h2(proxy.h2cURL!, { ':path': '/response-headers?set-cookie=a%3D1&set-cookie=b%3D2&x-kept=yes' });
    expect(answer.status).toBe(200);
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(answer.headers['x-kept']).toBe('yes');
    expect(answer.headers.connection).toBeUndefined();
    expect(answer.headers['keep-alive']).toBeUndefined();
  });

  it('writes an HTTP/2 request to the access log like any other', async () => {
    const answer = await h2(proxy.h2cURL!, { ':path': '/anything/logged' });
    const requestId = answer.headers['x-request-id'];
    const line = await proxy.waitForLog((entry) => entry.requestId === requestId);
    expect(line).toMatchObject({ method: 'GET', path: '/anything/logged', status: 200, route: expect.stringContaining('edge') });
  });

  it.each([
    ['without a length to go by', {}],
    ['with a length', { 'content-length': String(64 * 1024 + 1024 * 1024) }],
  ])('answers a refused upload at once, without reading its body (%s)', async (_name, length) => {
    const session = connectHttp2(proxy.h2cURL!);
    try {
      const started = performance.now();
      const stream = session.request({ ':authority': HOST, ':method': 'POST', ':path': '/guarded', ...length });
      stream.write(Buffer.alloc(64 * 1024));
      // More than the stream's flow-control window: nobody reads it, so it never all goes.
      stream.write(Buffer.alloc(1024 * 1024));
      const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
      expect(response[':status']).toBe(503);
      stream.resume();
      await once(stream, 'close');
      // Not held open for the HTTP/1.1 linger (a second) either.
      expect(performance.now() - started).toBeLessThan(900);
    } finally {
      session.close();
    }
  });
});

describe('stopping with HTTP/2 clients', () => {
  it('sends GOAWAY, and lets the request in flight finish', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-h2-drain-'));
    writeFileSync(join(dir, 'route.yaml'), routeYAML('drain', `  rules: [{public: true, backends: [{url: "${echo.url}"}]}]`));
    const stopping = await startPortcullis(['standalone', '-f', dir, '--listen-h2c', '127.0.0.1:0', '--drain-delay', '0s']);
    const session = connectHttp2(stopping.h2cURL!);
    try {
      const goaway = once(session, 'goaway');
      const upstream = once(echo.server, 'request');
      const stream = session.request({ ':path': '/delay/1000' });
      const response = once(stream, 'response') as Promise<[IncomingHttpHeaders]>;
      await upstream; // the request is in flight, upstream
      const stopped = stopping.stop();
      await goaway;
      const [headers] = await response;
      expect(headers[':status']).toBe(200);
      let body = '';
      for await (const chunk of stream) body += String(chunk);
      expect(JSON.parse(body).path).toBe('/delay/1000');
      await stopped;
    } finally {
      session.destroy();
      await stopping.stop();
    }
  });
});

describe('the edge limits over HTTP/2', () => {
  const TIMEOUT_MS = 500;
  let limited: PortcullisProcess;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-h2-limits-'));
    writeFileSync(join(dir, 'route.yaml'), routeYAML('limited', `  rules: [{public: true, backends: [{url: "${echo.url}"}]}]`));
    limited = await startPortcullis(['standalone', '-f', dir, '--listen-h2c', '127.0.0.1:0', '--client-body-timeout', `${TIMEOUT_MS}ms`, '--send-timeout', `${TIMEOUT_MS}ms`]);
  });

  afterAll(() => limited?.stop());

  it('a client that stops sending its body is cut (408 CLIENT_BODY_TIMEOUT)', async () => {
    const session = connectHttp2(limited.h2cURL!);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/upload' });
      stream.write(Buffer.alloc(1024)); // and then nothing more, without ending
      const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
      expect(response[':status']).toBe(408);
      await limited.waitForLog((line) => line.requestId === response['x-request-id'] && line.code === 'CLIENT_BODY_TIMEOUT');
    } finally {
      session.destroy();
    }
  });

  it('a client that reads nothing of a long answer is cut (CLIENT_SEND_TIMEOUT), and its connection keeps serving', async () => {
    const session = connectHttp2(limited.h2cURL!);
    try {
      const stream = session.request({ ':path': '/bytes/50000000' });
      stream.pause(); // reads nothing: flow control fills, the proxy's writes stop draining
      stream.on('error', () => {}); // the reset, seen as rstCode below
      const closed = new Promise((resolve) => stream.once('close', resolve));
      const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
      expect(response[':status']).toBe(200);
      await limited.waitForLog((line) => line.requestId === response['x-request-id'] && line.code === 'CLIENT_SEND_TIMEOUT');
      await closed;
      expect(stream.rstCode).toBe(constants.NGHTTP2_INTERNAL_ERROR);
      const next = session.request({ ':path': '/anything' });
      const [again] = (await once(next, 'response')) as [IncomingHttpHeaders];
      next.resume();
      expect(again[':status']).toBe(200);
    } finally {
      session.destroy();
    }
  });
});
