// Metrics after real traffic, and a graceful stop under load.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { request } from 'node:http';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let echo: EchoServer;
let mint: CognitoMint;
let dir: string;

beforeAll(async () => {
  echo = await startEchoServer({ record: false });
  mint = await startCognitoMint();
  dir = mkdtempSync(join(tmpdir(), 'portcullis-ops-'));
  writeFileSync(
    join(dir, 'routes.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: machines}
spec: {issuer: "${mint.issuer}", provider: Cognito, clientID: "${mint.clientIds.machine}", bearer: {}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: shop}
spec:
  rules:
    - matches: [{path: {value: /public}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /api}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /down}}]
      backends: [{url: "http://127.0.0.1:9"}]
`,
  );
});

afterAll(async () => {
  await Promise.all([echo?.close(), mint?.close()]);
});

/** The value of one series in Prometheus' text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('metrics', () => {
  let proxy: PortcullisProcess;
  beforeAll(async () => {
    proxy = await startPortcullis(['standalone', '-f', dir]);
    await proxy.waitForLog((l) => l.policy === 'default/machines' && l.status === 'True');
  });
  afterAll(() => proxy?.stop());

  it('counts requests, latencies, upstream errors, auth outcomes, provider fetches and table rebuilds', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${proxy.url}/public/x`)).status).toBe(200);
    expect((await fetch(`${proxy.url}/api/x`, { headers: { authorization: `Bearer ${mint.mint()}` } })).status).toBe(200);
    expect((await fetch(`${proxy.url}/api/x`)).status).toBe(401);
    expect((await fetch(`${proxy.url}/api/x`, { headers: { authorization: 'Bearer invalid_token' } })).status).toBe(401);
    expect((await fetch(`${proxy.url}/down`)).status).toBe(502);
    expect((await fetch(`${proxy.url}/nowhere`)).status).toBe(404);

    const response = await fetch(`${proxy.opsURL}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(sample(text, 'portcullis_requests_total', { route: 'default/shop', status_class: '2xx' })).toBe(4);
    expect(sample(text, 'portcullis_requests_total', { route: 'default/shop', status_class: '4xx' })).toBe(2);
    expect(sample(text, 'portcullis_requests_total', { route: 'default/shop', status_class: '5xx' })).toBe(1);
    expect(sample(text, 'portcullis_requests_total', { route: 'none', status_class: '4xx' })).toBe(1);
    expect(sample(text, 'portcullis_request_duration_seconds_count', { route: 'default/shop' })).toBe(7);
    expect(sample(text, 'portcullis_upstream_duration_seconds_count', { route: 'default/shop' })).toBe(5);
    expect(sample(text, 'portcullis_upstream_errors_total', { route: 'default/shop', code: 'UPSTREAM_CONNECT_FAILED' })).toBe(1);
    expect(sample(text, 'portcullis_auth_decisions_total', { policy: 'default/machines', decision: 'allow', reason: 'TOKEN_VALID' })).toBe(1);
    expect(sample(text, 'portcullis_auth_decisions_total', { policy: 'default/machines', decision: 'deny', reason: 'TOKEN_MISSING' })).toBe(1);
    expect(sample(text, 'portcullis_auth_decisions_total', { policy: 'default/machines', decision: 'deny', reason: 'TOKEN_MALFORMED' })).toBe(1);
    expect(sample(text, 'portcullis_provider_fetches_total', { issuer: mint.issuer, document: 'discovery', result: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'portcullis_provider_fetches_total', { issuer: mint.issuer, document: 'jwks', result: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'portcullis_table_rebuilds_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'portcullis_table_compile_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'portcullis_table_last_applied_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).not.toContain(mint.clientIds.web); // nothing from tokens
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM: /readyz fails, requests keep being served through the drain, in-flight ones finish, exit 0', async () => {
    const proxy = await startPortcullis(['standalone', '-f', dir, '--drain-delay', '1500ms', '--shutdown-timeout', '10s']);
    const statuses: number[] = [];
    let stop = false;
    const stream = (async () => {
      while (!stop) {
        try {
          statuses.push((await fetch(`${proxy.url}/public/x`)).status);
        } catch {
          break; // connections are refused once the drain is over: that is the end of the stream
        }
      }
    })();
    // A slow upload that starts before the signal and ends after it.
    const upload = new Promise<number>((resolve, reject) => {
      const req = request(`${proxy.url}/public/upload`, { method: 'POST', headers: { 'content-length': String(4 * 1024 * 1024) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      let sent = 0;
      const chunk = Buffer.alloc(256 * 1024, 1);
      const timer = setInterval(() => {
        req.write(chunk);
        sent += chunk.length;
        if (sent >= 4 * 1024 * 1024) {
          clearInterval(timer);
          req.end();
        }
      }, 150); // about 2.4 s for the whole body
    });
    await new Promise((r) => setTimeout(r, 300));
    const before = statuses.length;
    const exited = once(proxy.child, 'exit');
    proxy.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const ready = await fetch(`${proxy.opsURL}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ reason: 'draining' });
    expect(await upload).toBe(200);
    const [code] = await exited;
    stop = true;
    await stream;
    expect(code).toBe(0);
    expect(statuses.length).toBeGreaterThan(before); // served during the drain
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });
});
