import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { headersFromClient } from '../../src/proxy/forward/hop-by-hop.ts';
import { proxyUpgrade, type UpgradeOutcome, type UpgradeTarget } from '../../src/proxy/forward/upgrade.ts';
import { closeServer } from '../support/echo-server.ts';

interface Upstream {
  readonly origin: string;
  /** The handshakes the upstream received: path and headers. */
  readonly seen: { url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** A ws echo server that also records each handshake. */
async function startWsEcho(): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (socket, req) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  const { port } = wss.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
  };
}

/** A proxy whose 'upgrade' handler relays to what `targetFor` says, recording outcomes. */
async function startUpgradeProxy(targetFor: (req: IncomingMessage) => UpgradeTarget) {
  const outcomes: UpgradeOutcome[] = [];
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void proxyUpgrade(req, socket, head, targetFor(req)).then((outcome) => outcomes.push(outcome));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, outcomes, close: () => closeServer(server) };
}

const TIMEOUTS = { connectMs: 1_000, headersMs: 1_000 };

/** A client whose handshake is expected to fail: its error events are expected too. */
function refusedClient(url: string): WebSocket {
  const client = new WebSocket(url);
  client.on('error', () => {});
  return client;
}

describe('proxyUpgrade', () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startWsEcho();
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('relays a WebSocket to a ws echo server, with the path and headers we prepared', async () => {
    const proxy = await startUpgradeProxy((req) => ({
      origin: upstream.origin,
      path: '/chat/room?x=1',
      headers: { ...headersFromClient(req.headers), 'x-user-email': 'alice@example.com', 'x-forged': undefined },
      timeouts: TIMEOUTS,
      signal: null,
    }));
    const client = new WebSocket(`${proxy.url}/chat/./room?x=1`, { headers: { 'x-forged': 'nope', 'x-user-email': 'mallory@example.com' } });
    try {
      await once(client, 'open');
      client.send('hello');
      const [text] = await once(client, 'message') as [Buffer];
      expect(text.toString()).toBe('hello');
      client.send(Buffer.from([0, 1, 2, 255]));
      const [bytes] = await once(client, 'message') as [Buffer];
      expect([...bytes]).toEqual([0, 1, 2, 255]);

      expect(proxy.outcomes).toEqual([{ origin: upstream.origin, status: 101, error: null }]);
      const handshake = upstream.seen.at(-1);
      expect(handshake?.url).toBe('/chat/room?x=1');
      expect(handshake?.headers['x-user-email']).toBe('alice@example.com');
      expect(handshake?.headers['x-forged']).toBeUndefined();
      expect(handshake?.headers.upgrade).toBe('websocket');
      expect(handshake?.headers['sec-websocket-key']).toBeDefined();
      expect(handshake?.headers.host).toBe(new URL(proxy.url).host);
    } finally {
      client.terminate();
      await proxy.close();
    }
  });

  it('answers 502 when the upstream refuses the connection', async () => {
    const dead = createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const origin = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await closeServer(dead);
    const proxy = await startUpgradeProxy((req) => ({ origin, path: '/', headers: headersFromClient(req.headers), timeouts: TIMEOUTS, signal: null }));
    const client = refusedClient(proxy.url);
    try {
      const [, response] = await once(client, 'unexpected-response') as [unknown, IncomingMessage];
      expect(response.statusCode).toBe(502);
      expect(proxy.outcomes[0]).toMatchObject({ status: null, error: { code: 'UPSTREAM_CONNECT_FAILED' } });
    } finally {
      client.terminate();
      await proxy.close();
    }
  });

  it('answers 504 when the upstream does not answer the handshake in time', async () => {
    const held: Duplex[] = [];
    const silent = createServer();
    silent.on('upgrade', (_req, socket: Duplex) => held.push(socket)); // never answers
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const origin = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const proxy = await startUpgradeProxy((req) => ({
      origin, path: '/', headers: headersFromClient(req.headers), timeouts: { connectMs: 100, headersMs: 200 }, signal: null,
    }));
    const client = refusedClient(proxy.url);
    try {
      const [, response] = await once(client, 'unexpected-response') as [unknown, IncomingMessage];
      expect(response.statusCode).toBe(504);
      expect(proxy.outcomes[0]).toMatchObject({ error: { code: 'UPSTREAM_TIMEOUT' } });
    } finally {
      client.terminate();
      await proxy.close();
      for (const socket of held) socket.destroy();
      await closeServer(silent);
    }
  });

  it('relays an upstream that declines the upgrade', async () => {
    const declining = createServer((_req, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end('no'));
    declining.on('upgrade', (_req, socket: Duplex) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno'));
    declining.listen(0, '127.0.0.1');
    await once(declining, 'listening');
    const origin = `http://127.0.0.1:${(declining.address() as AddressInfo).port}`;
    const proxy = await startUpgradeProxy((req) => ({ origin, path: '/', headers: headersFromClient(req.headers), timeouts: TIMEOUTS, signal: null }));
    const client = refusedClient(proxy.url);
    try {
      const [, response] = await once(client, 'unexpected-response') as [unknown, IncomingMessage];
      expect(response.statusCode).toBe(403);
      expect(proxy.outcomes[0]).toEqual({ origin, status: 403, error: null });
    } finally {
      client.terminate();
      await proxy.close();
      await closeServer(declining);
    }
  });
});
