import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Upstream } from '../../src/model/table.ts';
import { normalizeTarget } from '../../src/match/normalize.ts';
import { forwardWithRetry } from '../../src/proxy/forward/retry.ts';
import { createSelectionState } from '../../src/proxy/forward/select.ts';
import type { Forwarder } from '../../src/proxy/forward/types.ts';
import { createUndiciForwarder, tlsServerName } from '../../src/proxy/forward/undici-forwarder.ts';
import { SYSTEM_TIMERS } from '../../src/time/timers.ts';
import { closeServer, expectedBytesSha256, startEchoServer, type EchoRecord, type EchoServer } from '../support/echo-server.ts';
import { createTestPki } from '../support/tls.ts';
import { open, plainTarget, repeatedSha256, repeatedStream, send, sendHashed, startTestProxy, TIMEOUTS, type TestProxy } from './harness.ts';

let echo: EchoServer;
let forwarder: Forwarder;
let proxy: TestProxy;

beforeAll(async () => {
  echo = await startEchoServer();
  forwarder = createUndiciForwarder();
  proxy = await startTestProxy((req, res) => forwarder.forward(req, res, plainTarget(req, echo.url)));
});

afterAll(async () => {
  await proxy.close();
  await forwarder.close();
  await echo.close();
});

function echoed(body: Buffer): EchoRecord {
  return JSON.parse(body.toString('utf8')) as EchoRecord;
}

/** Sends a request head as written (with `Connection: close`) and returns the whole answer. */
async function sendRaw(url: string, lines: string[]): Promise<string> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`${lines.join('\r\n')}\r\n\r\n`); // not end(): Node's server drops half-closed requests
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
  return text;
}

/** A port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await closeServer(server);
  return port;
}

describe('forwarding through the undici forwarder', () => {
  it('relays method, path, query and headers, and the answer', async () => {
    const reply = await send(`${proxy.url}/anything/x?a=1&b=%2F`, { headers: { 'x-test': 'yes', host: 'app.example.com' } });
    expect(reply.status).toBe(200);
    const seen = echoed(reply.body);
    expect(seen).toMatchObject({ method: 'GET', path: '/anything/x', query: 'a=1&b=%2F' });
    expect(seen.headers['x-test']).toBe('yes');
    expect(seen.headers.host).toBe('app.example.com');
    expect(seen.headers['x-forwarded-for']).toBeUndefined();
    const outcome = proxy.outcomes.at(-1);
    expect(outcome).toMatchObject({ origin: echo.url, status: 200, error: null, responseStarted: true, requestBytes: 0 });
    expect(outcome?.responseBytes).toBe(reply.body.length);
  });

  it('relays status codes and bodiless answers', async () => {
    expect((await send(`${proxy.url}/status/418`)).status).toBe(418);
    const noContent = await send(`${proxy.url}/status/204`, { method: 'DELETE' });
    expect(noContent.status).toBe(204);
    expect(noContent.body.length).toBe(0);
    const head = await send(`${proxy.url}/anything`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.body.length).toBe(0);
  });

  it('streams request bodies upstream, with a length or chunked', async () => {
    const size = 5 * 1024 * 1024 + 3;
    const chunked = echoed((await send(`${proxy.url}/upload`, { method: 'POST', body: repeatedStream(size) })).body);
    expect(chunked.body).toEqual({ length: size, sha256: repeatedSha256(size) });
    expect(chunked.headers['transfer-encoding']).toBe('chunked');

    const fixed = echoed((await send(`${proxy.url}/upload`, {
      method: 'PUT', body: repeatedStream(size), headers: { 'content-length': String(size) },
    })).body);
    expect(fixed.body).toEqual({ length: size, sha256: repeatedSha256(size) });
    expect(fixed.headers['content-length']).toBe(String(size));
    expect(proxy.outcomes.at(-1)?.requestBytes).toBe(size);
  });

  it('answers an Expect: 100-continue upload without passing Expect on', async () => {
    const body = Buffer.from('hello');
    const seen = echoed((await send(`${proxy.url}/upload`, { method: 'POST', body, headers: { expect: '100-continue', 'content-length': '5' } })).body);
    expect(seen.body.length).toBe(5);
    expect(seen.headers.expect).toBeUndefined();
  });

  it('answers 100 Continue once, when the server already did', async () => {
    // This test server has no checkContinue listener: Node answers at once, and the forwarder must not again.
    const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
    while (!text.includes('100 Continue')) await new Promise((resolve) => setTimeout(resolve, 10));
    socket.write('hello');
    await once(socket, 'close');
    expect(text.match(/100 Continue/g)).toHaveLength(1);
    expect(text).toContain('HTTP/1.1 200 OK');
  });

  it('sends a short chunked body, read in full, with its length', async () => {
    const size = 1000;
    const seen = echoed((await send(`${proxy.url}/upload`, { method: 'POST', body: repeatedStream(size, Buffer.alloc(100, 'c')) })).body);
    expect(seen.body).toEqual({ length: size, sha256: repeatedSha256(size, Buffer.alloc(100, 'c')) });
    expect(seen.headers['content-length']).toBe(String(size));
    expect(seen.headers['transfer-encoding']).toBeUndefined();
  });

  it('streams response bodies to the client', async () => {
    const size = 20 * 1024 * 1024 + 11;
    const reply = await sendHashed(`${proxy.url}/bytes/${size}`);
    expect(reply).toEqual({ status: 200, length: size, sha256: expectedBytesSha256(size) });
    expect(proxy.outcomes.at(-1)?.responseBytes).toBe(size);
  });

  it('removes hop-by-hop headers from the request, and those the client named in Connection', async () => {
    // Raw, since Node's client refuses some of these on a bodiless request.
    const reply = await sendRaw(proxy.url, [
      'GET /anything HTTP/1.1',
      'Host: app.example.com',
      'Connection: close, X-Hop',
      'X-Hop: secret',
      'Keep-Alive: timeout=5',
      'Proxy-Connection: keep-alive',
      'TE: trailers',
      'Trailer: X-Checksum',
      'X-End-To-End: kept',
    ]);
    expect(reply).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    const seen = echoed(Buffer.from(reply.slice(reply.indexOf('\r\n\r\n') + 4)));
    for (const name of ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) expect(seen.headers[name]).toBeUndefined();
    expect(seen.headers.connection ?? 'keep-alive').toBe('keep-alive');
    expect(seen.headers['x-end-to-end']).toBe('kept');
  });

  it('removes hop-by-hop headers from the response and keeps every Set-Cookie', async () => {
    const query = new URLSearchParams([
      ['Connection', 'X-Resp-Hop'],
      ['X-Resp-Hop', 'secret'],
      ['Keep-Alive', 'timeout=99'],
      ['Proxy-Connection', 'keep-alive'],
      ['Upgrade', 'h2c'],
      ['Trailer', 'X-Checksum'],
      ['X-End-To-End', 'kept'],
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
    ]);
    const reply = await send(`${proxy.url}/response-headers?${query}`);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-resp-hop']).toBeUndefined();
    expect(reply.headers['keep-alive']).not.toBe('timeout=99');
    expect(reply.headers['proxy-connection']).toBeUndefined();
    expect(reply.headers.upgrade).toBeUndefined();
    expect(reply.headers.trailer).toBeUndefined();
    expect(reply.headers.connection).not.toMatch(/x-resp-hop/i);
    expect(reply.headers['x-end-to-end']).toBe('kept');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(reply.rawHeaders).toContain('X-End-To-End'); // names keep their case
  });
});

describe('one path: normalised once, matched and forwarded as is', () => {
  it('forwards the normalised path and refuses what the invariant forbids', async () => {
    const local = await startTestProxy(async (req, res) => {
      const target = normalizeTarget(req.url ?? '', req.headers.host);
      if (!target.ok) {
        res.statusCode = target.status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: target.code }));
        return { origin: echo.url, status: target.status, requestBytes: 0, responseBytes: 0, error: null, responseStarted: true };
      }
      const path = target.query === '' ? target.path : `${target.path}?${target.query}`;
      return forwarder.forward(req, res, plainTarget(req, echo.url, { path }));
    });
    try {
      const forwarded = async (raw: string): Promise<string> => {
        const reply = await sendRaw(local.url, [`GET ${raw} HTTP/1.1`, 'Host: app.example.com', 'Connection: close']);
        const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
        const parsed = JSON.parse(body) as Partial<EchoRecord> & { code?: string };
        return parsed.code ?? `${parsed.path}${parsed.query ? `?${parsed.query}` : ''}`;
      };
      expect(await forwarded('/a/b/../c?x=%2F')).toBe('/a/c?x=%2F');
      expect(await forwarded('//double//slashes')).toBe('/double/slashes');
      expect(await forwarded('/p%41th/caf%c3%a9')).toBe('/pAth/caf%C3%A9');
      expect(await forwarded('http://app.example.com/public/%2e%2e/admin')).toBe('/admin');
      expect(await forwarded('/public/..;/admin')).toBe('TARGET_PATH_PARAMETERS');
      expect(await forwarded('/public/%252e%252e/admin')).toBe('TARGET_DOUBLE_ENCODING');
      expect(await forwarded('/%2e%2e/')).toBe('TARGET_TRAVERSAL');
      expect(await forwarded('http://evil.example.com/')).toBe('HOST_MISMATCH');
    } finally {
      await local.close();
    }
  });
});

describe('forwarding failures', () => {
  it('reports a refused connection as UPSTREAM_CONNECT_FAILED (502)', async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const local = await startTestProxy((req, res) => forwarder.forward(req, res, plainTarget(req, dead)));
    try {
      const reply = await send(`${local.url}/anything`);
      expect(reply.status).toBe(502);
      expect(JSON.parse(reply.body.toString())).toEqual({ code: 'UPSTREAM_CONNECT_FAILED' });
      expect(local.outcomes[0]).toMatchObject({ status: null, responseStarted: false, error: { code: 'UPSTREAM_CONNECT_FAILED', status: 502 } });
      expect((local.outcomes[0]?.error?.cause as { code?: string }).code).toBe('ECONNREFUSED');
    } finally {
      await local.close();
    }
  });

  it('reports a slow response head as UPSTREAM_TIMEOUT (504)', async () => {
    const local = await startTestProxy((req, res) =>
      forwarder.forward(req, res, plainTarget(req, echo.url, { timeouts: { ...TIMEOUTS, headersMs: 200 } })));
    try {
      const started = Date.now();
      const reply = await send(`${local.url}/delay/3000`);
      expect(reply.status).toBe(504);
      expect(JSON.parse(reply.body.toString())).toEqual({ code: 'UPSTREAM_TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(2_500);
    } finally {
      await local.close();
    }
  });

  it('reports the caller\'s timeout signal as UPSTREAM_TIMEOUT', async () => {
    const local = await startTestProxy((req, res) =>
      forwarder.forward(req, res, plainTarget(req, echo.url, { signal: AbortSignal.timeout(150) })));
    try {
      const reply = await send(`${local.url}/delay/3000`);
      expect(reply.status).toBe(504);
      expect(local.outcomes[0]?.error?.code).toBe('UPSTREAM_TIMEOUT');
    } finally {
      await local.close();
    }
  });

  it('cuts the client off when the upstream body stalls after the head was relayed', async () => {
    const stalling = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    stalling.listen(0, '127.0.0.1');
    await once(stalling, 'listening');
    const origin = `http://127.0.0.1:${(stalling.address() as AddressInfo).port}`;
    const local = await startTestProxy((req, res) =>
      forwarder.forward(req, res, plainTarget(req, origin, { timeouts: { ...TIMEOUTS, bodyIdleMs: 200 } })));
    try {
      const res = await open(`${local.url}/anything`);
      expect(res.statusCode).toBe(200);
      const received: Buffer[] = [];
      await expect(new Promise((resolve, reject) => {
        res.on('data', (chunk: Buffer) => received.push(chunk));
        res.on('end', resolve);
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('aborted')));
      })).rejects.toThrow();
      expect(Buffer.concat(received).toString()).toBe('partial');
      const outcome = local.outcomes[0] ?? await local.nextOutcome();
      expect(outcome).toMatchObject({ status: 200, responseStarted: true, responseBytes: 7, error: { code: 'UPSTREAM_TIMEOUT' } });
    } finally {
      await local.close();
      await closeServer(stalling);
    }
  });

  it('aborts the upstream exchange when the client goes away mid-download', async () => {
    const local = await startTestProxy((req, res) => forwarder.forward(req, res, plainTarget(req, echo.url)));
    try {
      const outcome = local.nextOutcome();
      const res = await open(`${local.url}/bytes/${1024 ** 3}`);
      await once(res, 'data');
      res.destroy();
      expect(await outcome).toMatchObject({ responseStarted: true, error: { code: 'CLIENT_CLOSED' } });
      expect((await outcome).responseBytes).toBeLessThan(1024 ** 3);
    } finally {
      await local.close();
    }
  });

  it('retries an idempotent request that could not connect once, on another endpoint', async () => {
    const dead = { origin: `http://127.0.0.1:${await closedPort()}` };
    const live = { origin: echo.url };
    const upstreams: Upstream[] = [{ key: 'url:test', weight: 1, endpoints: [dead, live] }];
    const state = createSelectionState();
    const local = await startTestProxy((req, res) =>
      forwardWithRetry(forwarder, req, res, upstreams, state, (endpoint) => plainTarget(req, endpoint.origin)));
    try {
      const get = await send(`${local.url}/anything`);
      expect(get.status).toBe(200);
      expect(local.outcomes[0]).toMatchObject({ attempts: 2, origin: echo.url, status: 200 });

      // The next request starts on the live endpoint (round-robin), then the dead one: POST with
      // a body is not retried.
      expect((await send(`${local.url}/anything`)).status).toBe(200);
      const post = await send(`${local.url}/anything`, { method: 'POST', body: Buffer.from('x'), headers: { 'content-length': '1' } });
      expect(post.status).toBe(502);
      expect(local.outcomes[2]).toMatchObject({ attempts: 1, origin: dead.origin, error: { code: 'UPSTREAM_CONNECT_FAILED' } });
    } finally {
      await local.close();
    }
  });

  it('retries an idempotent request once when a reused connection is reset before any answer', async () => {
    // An upstream that hangs up on the first request of every connection it is handed, the way a
    // keep-alive connection closed by the upstream at the moment we reuse it looks to us.
    let requests = 0;
    const flaky = createServer((req, res) => {
      requests++;
      if (requests === 1) req.socket.destroy();
      else res.end('second try');
    });
    flaky.listen(0, '127.0.0.1');
    await once(flaky, 'listening');
    const upstreams: Upstream[] = [{ key: 'url:flaky', weight: 1, endpoints: [{ origin: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}` }] }];
    const local = await startTestProxy((req, res) =>
      forwardWithRetry(forwarder, req, res, upstreams, createSelectionState(), (endpoint) => plainTarget(req, endpoint.origin)));
    try {
      const get = await send(`${local.url}/anything`);
      expect(get.status).toBe(200);
      expect(get.body.toString()).toBe('second try');
      expect(local.outcomes[0]).toMatchObject({ attempts: 2, status: 200 });
      requests = 0;
      const post = await send(`${local.url}/anything`, { method: 'POST', body: Buffer.from('x'), headers: { 'content-length': '1' } });
      expect(post.status).toBe(502);
      expect(local.outcomes[1]).toMatchObject({ attempts: 1, error: { code: 'UPSTREAM_RESET' } });
    } finally {
      await local.close();
      await closeServer(flaky);
    }
  });

  it('answers 502 after the retry when no endpoint connects', async () => {
    const upstreams: Upstream[] = [{ key: 'url:test', weight: 1, endpoints: [{ origin: `http://127.0.0.1:${await closedPort()}` }] }];
    const local = await startTestProxy((req, res) =>
      forwardWithRetry(forwarder, req, res, upstreams, createSelectionState(), (endpoint) => plainTarget(req, endpoint.origin)));
    try {
      expect((await send(`${local.url}/anything`)).status).toBe(502);
      expect(local.outcomes[0]).toMatchObject({ attempts: 1, error: { code: 'UPSTREAM_CONNECT_FAILED' } });
    } finally {
      await local.close();
    }
  });
});

describe('memory', () => {
  // The proxy runs in its own process so that only its memory is measured. With a small young
  // generation, the garbage of streaming (each socket read is a fresh Buffer) is collected
  // promptly and RSS stays flat; a proxy that buffered would still grow by the whole body.
  it('streams a 100 MB upload and a 100 MB download without growing RSS', async () => {
    const size = 100 * 1024 * 1024;
    const script = fileURLToPath(new URL('./fixtures/forwarding-proxy.ts', import.meta.url));
    const child = spawn(process.execPath, ['--max-semi-space-size=1', script, echo.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await once(child.stdout, 'data') as [Buffer];
      const url = line.toString().trim();
      // Warm up first (undici loads its parser lazily), then measure from there.
      expect((await send(`${url}/upload`, { method: 'POST', body: repeatedStream(1024 * 1024) })).status).toBe(200);
      await sendHashed(`${url}/bytes/${1024 * 1024}`);
      await send(`${url}/__memory/reset`);
      const upload = echoed((await send(`${url}/upload`, { method: 'POST', body: repeatedStream(size) })).body);
      expect(upload.body).toEqual({ length: size, sha256: repeatedSha256(size) });
      const download = await sendHashed(`${url}/bytes/${size}`);
      expect(download).toEqual({ status: 200, length: size, sha256: expectedBytesSha256(size) });
      const { base, peak } = JSON.parse((await send(`${url}/__memory`)).body.toString()) as { base: number; peak: number };
      expect((peak - base) / 1024 / 1024).toBeLessThan(64);
    } finally {
      child.kill();
    }
  });
});

describe('HTTPS upstreams', () => {
  const child = fileURLToPath(new URL('./fixtures/forward-once.ts', import.meta.url));

  function runChild(url: string, env: NodeJS.ProcessEnv): Promise<{ status: number; code: string | null; cause: string | null }> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [child, url], { env, timeout: 20_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
      });
    });
  }

  it('trusts the CA certificates in NODE_EXTRA_CA_CERTS, and only those', async () => {
    const pki = createTestPki();
    const secure = await startEchoServer({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    try {
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      for (const origin of [secure.url, secure.url.replace('127.0.0.1', 'localhost')]) {
        expect(await runChild(origin, { ...env, NODE_EXTRA_CA_CERTS: pki.caFile })).toEqual({ status: 200, code: null, cause: null });
      }
      expect(await runChild(secure.url, env)).toMatchObject({ status: 502, code: 'UPSTREAM_CONNECT_FAILED', cause: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      expect(secure.requests.length).toBe(2);
    } finally {
      await secure.close();
      pki.remove();
    }
  });
});

describe('HTTPS upstreams by name', () => {
  const child = fileURLToPath(new URL('./fixtures/forward-once.ts', import.meta.url));

  it('checks the certificate against the backend URL\'s host name, not the client\'s Host', async () => {
    const pki = createTestPki();
    // A certificate for localhost and 127.0.0.1 only; the client asks for shop.example.test.
    const secure = await startEchoServer({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    try {
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile };
      const answer = await new Promise<{ status: number; code: string | null }>((resolve, reject) => {
        execFile(process.execPath, [child, secure.url.replace('127.0.0.1', 'localhost'), 'shop.example.test'], { env, timeout: 20_000 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`${error.message}\n${stderr}`));
          else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
        });
      });
      expect(answer).toMatchObject({ status: 200, code: null });
      // The upstream still gets the client's Host (no rewrite asked for).
      expect(secure.requests.at(-1)?.headers.host).toBe('shop.example.test');
    } finally {
      await secure.close();
      pki.remove();
    }
  });

  it('names an upstream by its URL\'s host only when it is a name, not an address', () => {
    expect(tlsServerName('https://api.internal:8443')).toBe('api.internal');
    expect(tlsServerName('https://127.0.0.1:8443')).toBeUndefined();
    expect(tlsServerName('https://[::1]:8443')).toBeUndefined();
    expect(tlsServerName('http://api.internal')).toBeUndefined();
  });
});

describe('pools', () => {
  it('drops the pools of origins that went idle, when a new one is made', async () => {
    let clock = 0;
    const sweeping = createUndiciForwarder({ keepAliveTimeoutMs: 50, idlePoolSweepMs: 60_000, timers: { ...SYSTEM_TIMERS, now: () => clock } });
    const other = echo.url.replace('127.0.0.1', 'localhost');
    let origin = echo.url;
    const local = await startTestProxy((req, res) => sweeping.forward(req, res, plainTarget(req, origin)));
    try {
      expect((await send(`${local.url}/anything`)).status).toBe(200);
      expect(sweeping.poolCount).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 300)); // its connection times out
      clock += 60_000;
      origin = other;
      expect((await send(`${local.url}/anything`)).status).toBe(200);
      expect(sweeping.poolCount).toBe(1);
    } finally {
      await local.close();
      await sweeping.close();
    }
  });

  it('reports a header undici refuses as REQUEST_INVALID', async () => {
    const local = await startTestProxy((req, res) =>
      forwarder.forward(req, res, plainTarget(req, echo.url, { headers: { 'x-bad': 'a\r\nInjected: yes' } })));
    try {
      expect((await send(`${local.url}/anything`)).status).toBe(400);
      expect(local.outcomes[0]?.error?.code).toBe('REQUEST_INVALID');
    } finally {
      await local.close();
    }
  });
});

describe('limits', () => {
  it('refuses a request with UPSTREAM_BUSY when every connection is taken and nobody may wait', async () => {
    const limited = createUndiciForwarder({ connectionsPerOrigin: 1, queueSizePerOrigin: 0 });
    const local = await startTestProxy((req, res) => limited.forward(req, res, plainTarget(req, echo.url)));
    try {
      const holder = send(`${local.url}/delay/300`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const busy = await send(`${local.url}/anything`);
      expect(busy.status).toBe(503);
      expect(JSON.parse(busy.body.toString())).toEqual({ code: 'UPSTREAM_BUSY' });
      expect((await holder).status).toBe(200);
      expect((await send(`${local.url}/anything`)).status).toBe(200);
    } finally {
      await local.close();
      await limited.close();
    }
  });

  it('gives back the place in the queue of a client that went away while waiting', async () => {
    const limited = createUndiciForwarder({ connectionsPerOrigin: 1, queueSizePerOrigin: 1 });
    const local = await startTestProxy((req, res) => limited.forward(req, res, plainTarget(req, echo.url)));
    try {
      const holder = send(`${local.url}/delay/400`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const impatient = connect(Number(new URL(local.url).port), '127.0.0.1');
      await once(impatient, 'connect');
      impatient.write('GET /anything/impatient HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const gone = local.nextOutcome();
      impatient.destroy();
      expect((await gone).error?.code).toBe('CLIENT_CLOSED');
      // Its place is free again: the next request waits in it, and is served.
      expect((await send(`${local.url}/anything/patient`)).status).toBe(200);
      expect((await holder).status).toBe(200);
    } finally {
      await local.close();
      await limited.close();
    }
  });

  it('checks its limits up front', () => {
    expect(() => createUndiciForwarder({ connectionsPerOrigin: 0 })).toThrow(TypeError);
    expect(() => createUndiciForwarder({ queueSizePerOrigin: -1 })).toThrow(TypeError);
    expect(() => createUndiciForwarder({ queueTimeoutMs: 0 })).toThrow(TypeError);
    expect(() => createUndiciForwarder({ clientBodyBufferSize: 1.5 })).toThrow(TypeError);
    expect(() => createUndiciForwarder({ clientBodyTimeoutMs: Number.NaN })).toThrow(TypeError);
    expect(() => createUndiciForwarder({ sendTimeoutMs: 0 })).toThrow(TypeError);
  });
});

describe('closing', () => {
  it('refuses to forward once closed', async () => {
    const closing = createUndiciForwarder();
    const local = await startTestProxy((req, res) => closing.forward(req, res, plainTarget(req, echo.url)));
    try {
      expect((await send(`${local.url}/anything`)).status).toBe(200);
      await closing.close();
      const reply = await send(`${local.url}/anything`);
      expect(reply.status).toBe(503);
      expect(local.outcomes[1]?.error?.code).toBe('FORWARD_ABORTED');
    } finally {
      await local.close();
    }
  });
});
