// Slow and refused clients against `portcullis standalone`, as a process: bodies are read before
// an upstream connection is taken, silent senders and non-readers are cut (short timeouts here,
// so that each test takes seconds), `Expect: 100-continue` waits for the guard, and a refused
// body is not read.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, get, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { expectedBytesSha256 } from '../support/echo-server.ts';
import { rawClient, sleep, startEdge, type Edge } from './support.ts';

const TIMEOUT_MS = 1_000;
const BUFFER = 64 * 1024;

let edge: Edge;
let side: Server;
let sockets: WebSocketServer;

beforeAll(async () => {
  // A second upstream for what the echo does not do: a server-sent event stream, a body read
  // late, and WebSockets.
  side = createServer((req, res) => {
    if (req.url?.startsWith('/sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      let n = 0;
      const timer = setInterval(() => {
        res.write(`data: ${++n}\n\n`);
        if (n === 4) {
          clearInterval(timer);
          res.end();
        }
      }, 700);
      res.on('close', () => clearInterval(timer));
      return;
    }
    // /late-reader: reads nothing of the body for 2.5 s, then all of it.
    req.pause();
    setTimeout(() => {
      let length = 0;
      req.on('data', (chunk: Buffer) => (length += chunk.length));
      req.on('end', () => res.end(JSON.stringify({ length })));
      req.resume();
    }, 2_500);
  });
  sockets = new WebSocketServer({ server: side });
  sockets.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo ${data.toString()}`)));
  side.listen(0, '127.0.0.1');
  await once(side, 'listening');
  const sideURL = `http://127.0.0.1:${(side.address() as AddressInfo).port}`;
  edge = await startEdge(
    ['--client-body-timeout', `${TIMEOUT_MS}ms`, '--send-timeout', `${TIMEOUT_MS}ms`, '--client-body-buffer-size', String(BUFFER)],
    `    - matches: [{path: {value: /sse}}, {path: {value: /late-reader}}, {path: {value: /ws}}]
      backends: [{url: "${sideURL}"}]
`,
  );
});

afterAll(async () => {
  await edge?.close();
  sockets?.close();
  side?.closeAllConnections();
  side?.close();
});

const post = (path: string, headers: string) => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`;

describe('request bodies', () => {
  it('reads a body up to the buffer size in full before the upstream sees the request', async () => {
    const heads = edge.upstream.heads;
    const client = await rawClient(edge.proxy.url);
    client.socket.write(post('/public/buffered', 'Content-Length: 1000\r\n'));
    client.socket.write(Buffer.alloc(500, 'a'));
    await sleep(600);
    expect(edge.upstream.heads).toBe(heads); // half a body: no upstream connection, no request
    client.socket.write(Buffer.alloc(500, 'b'));
    const seen = JSON.parse(await client.body()) as { body: { length: number; sha256: string } };
    expect(seen.body).toEqual({ length: 1000, sha256: createHash('sha256').update(Buffer.concat([Buffer.alloc(500, 'a'), Buffer.alloc(500, 'b')])).digest('hex') });
    expect(edge.upstream.heads).toBe(heads + 1);
    client.socket.destroy();
  });

  it('cuts a client silent in the middle of a buffered body with 408, before any upstream request', async () => {
    const heads = edge.upstream.heads;
    const client = await rawClient(edge.proxy.url);
    const started = Date.now();
    client.socket.write(post('/public/stalled', 'Content-Length: 1000\r\n'));
    client.socket.write(Buffer.alloc(100, 'a'));
    const head = await client.head();
    const waited = Date.now() - started;
    expect(head.status).toBe(408);
    expect(head.headers.connection).toBe('close');
    expect(JSON.parse(await client.body())).toMatchObject({ error: { code: 'CLIENT_BODY_TIMEOUT' } });
    expect(waited).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(waited).toBeLessThan(TIMEOUT_MS + 3_000);
    await client.untilClosed();
    expect(edge.upstream.heads).toBe(heads);
  });

  it('cuts a client silent in the middle of a streamed body, and its upstream request with it', async () => {
    const { heads, cutRequests } = edge.upstream;
    const client = await rawClient(edge.proxy.url);
    client.socket.write(post('/public/streamed', `Content-Length: ${4 * BUFFER}\r\n`));
    client.socket.write(Buffer.alloc(2 * BUFFER, 'a'));
    // Longer than the buffer: it streams, so the upstream has the request while the body comes.
    while (edge.upstream.heads === heads) await sleep(10);
    const cutAfter = await client.untilClosed();
    expect(cutAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - 300);
    while (edge.upstream.cutRequests === cutRequests) await sleep(10); // the upstream connection was destroyed, not reused mid-body
    await edge.proxy.waitForLog((line) => line.path === '/public/streamed' && line.code === 'CLIENT_BODY_TIMEOUT');
  });

  it('does not count the time a slow upstream holds the body back against the client', async () => {
    // The upstream reads nothing for 2.5 s, longer than the client body timeout; the client has
    // more to send all along (32 MB is more than the sockets' buffers hold).
    const size = 32 * 1024 * 1024;
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${edge.proxy.url}/late-reader`, { method: 'PUT', headers: { 'content-length': size } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(Buffer.alloc(size, 'x'));
    });
    expect(answer).toEqual({ status: 200, text: JSON.stringify({ length: size }) });
  }, 20_000);
});

describe('responses', () => {
  it('cuts a client that reads nothing of a download, and the upstream response with it', async () => {
    const { cutResponses } = edge.upstream;
    const client = await rawClient(edge.proxy.url, { read: false });
    const started = Date.now();
    client.socket.write('GET /bytes/100000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await edge.proxy.waitForLog((line) => line.path === '/bytes/100000000' && line.code === 'CLIENT_SEND_TIMEOUT', 10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS);
    while (edge.upstream.cutResponses === cutResponses) await sleep(10); // its upstream connection is gone
    // What the proxy had sent is readable, then the connection ends: far short of 100 MB.
    client.socket.resume();
    let received = 0;
    client.socket.on('data', (chunk: Buffer) => (received += chunk.length));
    await client.untilClosed();
    expect(received).toBeLessThan(50 * 1024 * 1024);
  });

  it('keeps a client that reads slowly but steadily, with pauses shorter than the send timeout', async () => {
    const size = 4 * 1024 * 1024;
    const started = Date.now();
    const result = await new Promise<{ length: number; sha256: string }>((resolve, reject) => {
      get(`${edge.proxy.url}/bytes/${size}`, (res) => {
        const hash = createHash('sha256');
        let length = 0;
        let sinceLastPause = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
          sinceLastPause += chunk.length;
          if (sinceLastPause >= 512 * 1024) {
            sinceLastPause = 0;
            res.pause();
            setTimeout(() => res.resume(), 600);
          }
        });
        res.on('end', () => resolve({ length, sha256: hash.digest('hex') }));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(result).toEqual({ length: size, sha256: expectedBytesSha256(size) });
    expect(Date.now() - started).toBeGreaterThan(2 * TIMEOUT_MS); // it took longer than the timeout, in all
  });

  it('keeps a server-sent event stream whose events come further apart than the timeouts', async () => {
    const response = await fetch(`${edge.proxy.url}/sse`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n');
  });

  it('keeps a WebSocket quiet for longer than the timeouts', async () => {
    const socket = new WebSocket(`${edge.proxy.url.replace('http', 'ws')}/ws`);
    await once(socket, 'open');
    await sleep(2.5 * TIMEOUT_MS);
    socket.send('still there');
    const [data] = (await once(socket, 'message')) as [Buffer];
    expect(data.toString()).toBe('echo still there');
    socket.close();
  });
});

describe('Expect: 100-continue', () => {
  it('is not answered to a request the guard refuses, whose body is then never read', async () => {
    const client = await rawClient(edge.proxy.url);
    client.socket.write(post('/m2m/upload', 'Expect: 100-continue\r\nContent-Length: 10000000\r\n'));
    const head = await client.head();
    expect(head.status).toBe(401);
    expect(head.informational).toEqual([]);
    expect(head.headers.connection).toBe('close');
    await client.untilClosed();
    expect(client.received()).not.toContain('100 Continue');
  });

  it('is answered once the guard allowed the request', async () => {
    const client = await rawClient(edge.proxy.url);
    client.socket.write(post('/m2m/upload', `Expect: 100-continue\r\nContent-Length: 5000\r\nAuthorization: ${edge.bearer().authorization}\r\n`));
    while (!client.received().includes('\r\n\r\n')) await sleep(10);
    expect(client.received()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    client.socket.write(Buffer.alloc(5000, 'c'));
    const head = await client.head();
    expect(head).toMatchObject({ status: 200, informational: ['HTTP/1.1 100 Continue'] });
    expect(JSON.parse(await client.body())).toMatchObject({ path: '/m2m/upload', body: { length: 5000 } });
    client.socket.destroy();
  });
});

describe('refused bodies', () => {
  /** Sends up to 1 GB as fast as the proxy takes it; resolves with the bytes written once the connection closes. */
  async function refusedUpload(chunked: boolean, requestHead = 'POST /m2m/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n'): Promise<{ status: number; connection: string | undefined; written: number; ms: number }> {
    const client = await rawClient(edge.proxy.url);
    const started = Date.now();
    client.socket.write(`${requestHead}${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${2 ** 30}`}\r\n\r\n`);
    const block = Buffer.alloc(1024 * 1024, 'u');
    const frame = chunked ? Buffer.concat([Buffer.from(`${block.length.toString(16)}\r\n`), block, Buffer.from('\r\n')]) : block;
    let written = 0;
    const pump = (): void => {
      while (!client.closed() && written < 2 ** 30) {
        written += block.length;
        if (!client.socket.write(frame)) {
          client.socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
    const head = await client.head();
    await client.untilClosed();
    return { status: head.status, connection: head.headers.connection, written, ms: Date.now() - started };
  }

  it('closes the connection after refusing a 1 GB upload instead of reading it', async () => {
    for (const chunked of [false, true]) {
      const upload = await refusedUpload(chunked);
      expect(upload).toMatchObject({ status: 401, connection: 'close' });
      // What the sockets' buffers held when the answer went out, not the body.
      expect(upload.written).toBeLessThan(64 * 1024 * 1024);
      expect(upload.ms).toBeLessThan(5_000);
    }
  });

  it('closes the connection instead of reading the body after an answer the guard wrote itself', async () => {
    // A navigation to a browser-protected rule is redirected to sign in by the guard, which
    // cannot say Connection: close for us. The client sends 1 MB of a 1 GB body and waits.
    const client = await rawClient(edge.proxy.url);
    client.socket.write(`GET /browser/page HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Mode: navigate\r\nContent-Length: ${2 ** 30}\r\n\r\n`);
    client.socket.write(Buffer.alloc(1024 * 1024, 'n'));
    const head = await client.head();
    expect(head.status).toBe(302);
    expect(head.headers.location).toContain('/oauth2/authorize');
    await client.untilClosed(5_000); // Node would wait for the rest of the gigabyte, to read it
  });

  it('still reads a small refused body, and keeps the connection for the next request', async () => {
    const client = await rawClient(edge.proxy.url);
    client.socket.write(post('/m2m/form', 'Content-Length: 10000\r\n'));
    client.socket.write(Buffer.alloc(10_000, 'f'));
    const head = await client.head();
    expect(head.status).toBe(401);
    expect(head.headers.connection).toBe('keep-alive');
    await client.body();
    client.socket.write('GET /public/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    while (!client.received().includes('"path":"/public/next"')) {
      expect(client.closed()).toBe(false);
      await sleep(10);
    }
    client.socket.destroy();
  });
});
