import { request } from 'node:http';
import { expectedBytesSha256, spawnEchoServer, startEchoServer, type EchoRecord, type EchoServer } from './echo-server.ts';
import { send, sendHashed } from '../proxy/harness.ts';

describe('echo server, in process', () => {
  let echo: EchoServer;
  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await echo.close();
  });

  it('describes any request as JSON, and records it', async () => {
    const reply = await send(`${echo.url}/anything/%2e%2E//x?b=2&a=1`, { method: 'PATCH', body: Buffer.from('hello'), headers: { 'x-test': 'yes' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    const seen = JSON.parse(reply.body.toString()) as EchoRecord;
    expect(seen).toMatchObject({
      method: 'PATCH',
      path: '/anything/%2e%2E//x',
      query: 'b=2&a=1',
      body: { length: 5, sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' },
    });
    expect(seen.headers['x-test']).toBe('yes');
    expect(seen.rawHeaders).toContain('x-test');
    expect(echo.requests.at(-1)).toEqual(seen);
  });

  it('answers /status/<code>, with no body for 204 and 304', async () => {
    expect((await send(`${echo.url}/status/503`)).status).toBe(503);
    const empty = await send(`${echo.url}/status/204`);
    expect([empty.status, empty.body.length]).toEqual([204, 0]);
    expect((await send(`${echo.url}/status/99`)).status).toBe(200);
  });

  it('answers /delay/<ms> after that long', async () => {
    const started = Date.now();
    expect((await send(`${echo.url}/delay/150`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('streams /bytes/<n>', async () => {
    expect(await sendHashed(`${echo.url}/bytes/100000`)).toEqual({ status: 200, length: 100000, sha256: expectedBytesSha256(100000) });
    expect(await sendHashed(`${echo.url}/bytes/0`)).toMatchObject({ status: 200, length: 0 });
  });

  it('sets /response-headers from the query, repeats included', async () => {
    const reply = await send(`${echo.url}/response-headers?Set-Cookie=a%3D1&Set-Cookie=b%3D2&X-Thing=yes`);
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers['x-thing']).toBe('yes');
  });

  it('does not record when asked not to', async () => {
    const quiet = await startEchoServer({ record: false });
    try {
      await send(`${quiet.url}/x`);
      expect(quiet.requests).toEqual([]);
    } finally {
      await quiet.close();
    }
  });
});

describe('echo server, as its own process', () => {
  it('prints its URL, answers, and stops on SIGTERM', async () => {
    const echo = await spawnEchoServer();
    try {
      expect(echo.url).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+$/);
      const reply = await send(`${echo.url}/hello`);
      expect(JSON.parse(reply.body.toString())).toMatchObject({ method: 'GET', path: '/hello' });
    } finally {
      await echo.stop();
    }
    await expect(new Promise((resolve, reject) => request(`${echo.url}/`, resolve).on('error', reject).end())).rejects.toThrow(/ECONNREFUSED/);
  });
});
