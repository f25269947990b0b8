// TLS termination: certificates from Route.spec.tls.secretRef, chosen by SNI from the table in
// force (rotation without a restart), HTTP → HTTPS redirects per Route, Secure cookies on HTTPS.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';

let pki: TestPki;
let echo: EchoServer;
let idp: CognitoLikeProvider;
let proxy: PortcullisProcess;
let dir: string;

const tlsSecret = (name: string, pair: { key: string; cert: string }) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(pair.cert).toString('base64')}
  tls.key: ${Buffer.from(pair.key).toString('base64')}
---
`;

function save(name: string, text: string): void {
  writeFileSync(join(dir, `.${name}`), text);
  renameSync(join(dir, `.${name}`), join(dir, name));
}

beforeAll(async () => {
  pki = createTestPki();
  echo = await startEchoServer();
  idp = await startCognitoLikeProvider();
  dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  save('secrets.yaml', tlsSecret('shop', pki.issue(['shop.example.test'])) + tlsSecret('wild', pki.issue(['*.apps.example.test'])));
  save(
    'routes.yaml',
    `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: shop}
spec:
  hostnames: [shop.example.test]
  tls: {secretRef: {name: shop}, redirectHTTP: true}
  rules: [{backends: [{url: "${echo.url}"}]}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: apps}
spec:
  hostnames: ["*.apps.example.test"]
  tls: {secretRef: {name: wild}}
  policyRef: {name: users}
  rules: [{backends: [{url: "${echo.url}"}]}]
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: users}
spec:
  issuer: ${idp.issuer}
  clientID: ${idp.clients.web.clientId}
  browser: {}
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen-tls', '127.0.0.1:0', '--https-redirect-port', '8443']);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), idp?.close()]);
  pki?.remove();
});

interface TLSAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  certificate: X509Certificate;
}

/** An HTTPS request to the proxy's TLS port with the given SNI name and Host. */
function get(servername: string, path: string, headers: Record<string, string> = {}): Promise<TLSAnswer> {
  const { port } = new URL(proxy.tlsURL!);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername, path, headers: { host: servername, ...headers }, ca: pki.caCert, agent: false }, (res) => {
      const certificate = new X509Certificate((res.socket as TLSSocket).getPeerX509Certificate()!.raw);
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, certificate }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS termination', () => {
  it('serves each hostname with its Route\'s certificate, by SNI', async () => {
    const shop = await get('shop.example.test', '/anything');
    expect(shop.status).toBe(200);
    expect(shop.certificate.subjectAltName).toBe('DNS:shop.example.test');
    expect(echo.requests.at(-1)!.headers['x-forwarded-proto']).toBe('https');
    const app = await get('billing.apps.example.test', '/anything', { accept: 'application/json' });
    expect(app.certificate.subjectAltName).toBe('DNS:*.apps.example.test');
  });

  it('refuses a handshake for a name no Route has a certificate for', async () => {
    await expect(get('unknown.example.test', '/')).rejects.toThrow();
  });

  it('redirects plain HTTP to HTTPS for a Route that asks for it', async () => {
    const response = await rawRequest(proxy.url, 'GET /cart?item=1 HTTP/1.1\r\nHost: shop.example.test');
    expect(response.status).toBe(308);
    expect(response.headers.location).toBe('https://shop.example.test:8443/cart?item=1');
    expect(echo.requests.filter((r) => r.path === '/cart')).toEqual([]);
  });

  it('marks cookies Secure on HTTPS', async () => {
    await proxy.waitForLog((l) => l.policy === 'default/users' && l.status === 'True');
    const navigation = await get('billing.apps.example.test', '/reports', { accept: 'text/html' });
    expect(navigation.status).toBe(302);
    const cookies = [navigation.headers['set-cookie'] ?? []].flat();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(cookie).toMatch(/; Secure/i);
  });

  it('picks up a rotated certificate without a restart', async () => {
    const before = await get('shop.example.test', '/anything');
    save('secrets.yaml', tlsSecret('shop', pki.issue(['shop.example.test'])) + tlsSecret('wild', pki.issue(['*.apps.example.test'])));
    let after = before;
    for (let i = 0; i < 50 && after.certificate.serialNumber === before.certificate.serialNumber; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await get('shop.example.test', '/anything');
    }
    expect(after.certificate.serialNumber).not.toBe(before.certificate.serialNumber);
    expect(after.status).toBe(200);
  });
});
