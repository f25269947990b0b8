// Bodies stream through the proxy process, never buffered; WebSocket upgrades take the same pipeline.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let echo: EchoServer;
let sockets: WebSocketServer;
let proxy: PortcullisProcess;

beforeAll(async () => {
  echo = await startEchoServer();
  sockets = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  sockets.on('connection', (socket, request) => {
    socket.send(`hello ${request.url}`);
    socket.on('message', (data) => socket.send(`echo ${data.toString()}`));
  });
  await once(sockets, 'listening');
  const wsURL = `http://127.0.0.1:${(sockets.address() as { port: number }).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-streaming-'));
  writeFileSync(
    join(dir, 'routes.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: guarded}
spec: {issuer: "http://127.0.0.1:9/pool", clientID: c}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: streams}
spec:
  rules:
    - matches: [{path: {value: /upload}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /ws}}]
      backends: [{url: "${wsURL}"}]
    - matches: [{path: {value: /ws-guarded}}]
      policyRef: {name: guarded}
      backends: [{url: "${wsURL}"}]
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir]);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
  sockets?.close();
});

/** A deterministic 100 MB body, produced as it is sent. */
function body(total: number, hash: ReturnType<typeof createHash>): ReadableStream<Uint8Array> {
  let sent = 0;
  let counter = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = Buffer.alloc(Math.min(1 << 20, total - sent), counter++ % 251);
      hash.update(chunk);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

describe('streaming', () => {
  it('uploads 100 MB through the proxy with the same SHA-256, in less than 30 MB of extra memory', async () => {
    const total = 100 * 1024 * 1024;
    const hash = createHash('sha256');
    // Warm up first, so the figure is what streaming costs, not what loading the code costs.
    const warmUp = await fetch(`${proxy.url}/upload/warm`, { method: 'POST', body: body(8 * 1024 * 1024, createHash('sha256')), duplex: 'half' } as RequestInit);
    expect(warmUp.status).toBe(200);
    await warmUp.arrayBuffer();
    const rssBefore = proxy.rss();
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, proxy.rss())), 20);
    const response = await fetch(`${proxy.url}/upload/big`, {
      method: 'POST',
      body: body(total, hash),
      headers: { 'content-type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit);
    clearInterval(sampler);
    peak = Math.max(peak, proxy.rss());
    expect(response.status).toBe(200);
    const seen = (await response.json()) as { body: { length: number; sha256: string } };
    expect(seen.body).toEqual({ length: total, sha256: hash.digest('hex') });
    const grownMB = (peak - rssBefore) / 2 ** 20;
    console.log(`100 MB upload: proxy RSS ${(rssBefore / 2 ** 20).toFixed(1)} MB before, peak growth ${grownMB.toFixed(1)} MB`);
    expect(grownMB).toBeLessThan(30);
  });
});

describe('WebSocket upgrades', () => {
  it('relays a WebSocket through a public rule', async () => {
    const socket = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws/chat?room=1`);
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(data.toString()));
    await once(socket, 'open');
    socket.send('ping');
    while (messages.length < 2) await once(socket, 'message');
    expect(messages).toEqual(['hello /ws/chat?room=1', 'echo ping']);
    socket.close();
  });

  it('refuses an upgrade on a protected rule before it reaches the upstream', async () => {
    const socket = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws-guarded/chat`);
    socket.on('error', () => {}); // the refused handshake closes the socket
    const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(503);
  });

  it('normalises the target of an upgrade like any request', async () => {
    const socket = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws/../ws-guarded/chat`);
    socket.on('error', () => {});
    const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(503);
  });
});
