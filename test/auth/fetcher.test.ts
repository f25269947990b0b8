// Each way a provider fetch fails, against real sockets and certificates on loopback: the
// message says why in a person's words with the system's code, and the error keeps its cause.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { ProviderError } from '../../src/auth/errors.ts';
import { createFetcher, describeEndpointFailure } from '../../src/auth/fetcher.ts';
import { startCognitoLikeProvider } from '../../src/demo/provider.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';

const servers: Server[] = [];
const fetchers: { close(): Promise<void> }[] = [];
let pki: TestPki;

beforeAll(() => {
  pki = createTestPki();
});
afterAll(async () => {
  for (const server of servers) server.close();
  await Promise.all(fetchers.map((f) => f.close()));
  pki.remove();
});

function fetcher(caBundle: string | null = null, timeoutMs?: number) {
  const created = createFetcher({ caBundle, timeoutMs, maxBytes: 1024 });
  fetchers.push(created);
  return created.fetchJSON;
}

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const http = async (handler: RequestListener) => `http://127.0.0.1:${await listen(createServer(handler))}`;
const https = async (key: string | Buffer, cert: string | Buffer) => `https://127.0.0.1:${await listen(createHttpsServer({ key, cert }, (_req, res) => res.end('{"ok":true}')))}`;

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

/** A certificate for 127.0.0.1 that expired in 2020, signed by its own CA (`openssl ca` sets past dates). */
function expiredCertificate(): { key: string; cert: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-expired-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Expired Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '01\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      '[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n[server]\nsubjectAltName = IP:127.0.0.1\n',
    );
    run('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'server.csr', '-out', 'server.crt', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extensions', 'server');
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    return { key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('provider fetch failures', () => {
  it('connection refused, with the address and port', async () => {
    const closed = createTcpServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const error = await failure(fetcher()(`http://127.0.0.1:${port}/.well-known/openid-configuration`));
    expect(error.code).toBe('CONNECTION_REFUSED');
    expect(error.message).toBe(`connection refused (ECONNREFUSED 127.0.0.1:${port})`);
    expect((error.cause as Error).message).toBe('fetch failed');
  });

  it('a host name that does not resolve', async () => {
    const error = await failure(fetcher()('https://no-such-provider.invalid/.well-known/openid-configuration'));
    expect(error.code).toBe('HOST_NOT_FOUND');
    // ENOTFOUND with a resolver; EAI_AGAIN on a machine without one.
    expect(error.message).toMatch(/^the host name (was not found \(ENOTFOUND|could not be resolved now \(EAI_AGAIN) no-such-provider\.invalid\)$/);
  });

  it('a provider that accepts the connection and never answers', async () => {
    const url = await http(() => undefined);
    const error = await failure(fetcher(null, 300)(`${url}/slow`));
    expect(error.code).toBe('TIMEOUT');
    // Whichever fires first: undici's headers timeout (coarse timers) or the whole fetch's (twice as long).
    expect(error.message).toMatch(/^no (answer within 300|complete answer within 600) ms \(timeout\)$/);
  });

  it('a certificate signed by a CA the process does not trust, with the cure', async () => {
    const url = await https(pki.serverKey, pki.serverCert);
    const error = await failure(fetcher()(`${url}/x`));
    expect(error.code).toBe('TLS_UNTRUSTED');
    expect(error.message).toBe("the provider's certificate is not trusted: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); add its CA with spec.caBundleRef");
    // The same server, with its CA in the policy's bundle, answers.
    expect(await fetcher(pki.caCert)(`${url}/x`)).toEqual({ ok: true });
  });

  it('a self-signed certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-self-signed-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
    const url = await https(readFileSync(join(dir, 'k.pem')), readFileSync(join(dir, 'c.pem')));
    rmSync(dir, { recursive: true, force: true });
    const error = await failure(fetcher()(`${url}/x`));
    expect(error.message).toBe("the provider's certificate is not trusted: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); add its CA with spec.caBundleRef");
  });

  it('an expired certificate', async () => {
    const expired = expiredCertificate();
    const url = await https(expired.key, expired.cert);
    const error = await failure(fetcher(expired.ca)(`${url}/x`));
    expect(error.code).toBe('TLS_CERTIFICATE_INVALID');
    expect(error.message).toBe("the provider's certificate has expired (CERT_HAS_EXPIRED)");
  });

  it('a certificate for another host name, naming the names it holds', async () => {
    const other = pki.issue(['other.example']);
    const url = await https(other.key, other.cert);
    const port = new URL(url).port;
    const error = await failure(fetcher(pki.caCert)(`https://localhost:${port}/x`));
    expect(error.code).toBe('TLS_CERTIFICATE_INVALID');
    expect(error.message).toBe("the provider's certificate is not valid for localhost; it names DNS:other.example (ERR_TLS_CERT_ALTNAME_INVALID)");
  });

  it('plain HTTP where TLS was expected', async () => {
    const url = await http((_req, res) => res.end('{}'));
    const error = await failure(fetcher()(url.replace('http:', 'https:')));
    expect(error.code).toBe('TLS_FAILED');
    expect(error.message).toMatch(/^the TLS handshake with 127\.0\.0\.1:\d+ failed: wrong version number \(ERR_SSL_WRONG_VERSION_NUMBER\)$/);
  });

  it('an HTTP error status, a redirect, a body that is not JSON, a body too large', async () => {
    const url = await http((req, res) => {
      if (req.url === '/missing') res.writeHead(404).end('no');
      else if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
      else if (req.url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Sign in</title>');
      else res.end(JSON.stringify({ padding: 'x'.repeat(2048) }));
    });
    const fetchJSON = fetcher();
    expect(await failure(fetchJSON(`${url}/missing`))).toMatchObject({ code: 'HTTP_STATUS', message: 'it answered HTTP 404 Not Found' });
    expect(await failure(fetchJSON(`${url}/moved`))).toMatchObject({ code: 'REDIRECTED', message: 'it answered with a redirect, which is not followed (set the final URL)' });
    expect(await failure(fetchJSON(`${url}/html`))).toMatchObject({ code: 'NOT_JSON', message: 'it sent a body that is not JSON (content-type text/html)' });
    expect(await failure(fetchJSON(`${url}/big`))).toMatchObject({ code: 'TOO_LARGE', message: 'it sent more than 1024 bytes' });
  });

  it('a URL with a user name or password, without repeating them', async () => {
    const error = await failure(fetcher()('https://admin:s3cret@127.0.0.1:1/x'));
    expect(error).toMatchObject({ code: 'URL_INVALID', message: 'the URL carries a user name or password, which Portcullis never sends' });
  });

  it('a port fetch never connects to', async () => {
    expect(await failure(fetcher()('http://127.0.0.1:6000/x'))).toMatchObject({ code: 'URL_INVALID', message: 'fetch never connects to port 6000 (bad port); use another port' });
  });
});

describe('token endpoint failures (openid-client against the real oidc-provider)', () => {
  const grant = (config: oidc.Configuration) =>
    oidc.clientCredentialsGrant(config, { scope: 'default-m2m-resource-server/read' }).then(
      () => null,
      (e: unknown) => e,
    );

  it('a wrong client secret is invalid_client, said without the secret', async () => {
    const idp = await startCognitoLikeProvider();
    try {
      const wrongSecret = 'not-the-secret-0123456789';
      const config = await oidc.discovery(new URL(idp.issuer), idp.clients.machine.clientId, wrongSecret, undefined, { execute: [oidc.allowInsecureRequests] });
      const described = describeEndpointFailure(await grant(config), config.serverMetadata().token_endpoint);
      expect(described).toMatchObject({ code: 'invalid_client', message: expect.stringMatching(/^it answered HTTP 401 with invalid_client/) });
      expect(JSON.stringify(described)).not.toContain(wrongSecret);
    } finally {
      await idp.close();
    }
  });

  it('a token endpoint that refuses connections, by its cause', async () => {
    const closed = createTcpServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const tokenEndpoint = `http://127.0.0.1:${port}/oauth2/token`;
    const config = new oidc.Configuration({ issuer: `http://127.0.0.1:${port}/pool`, token_endpoint: tokenEndpoint }, 'client', 'secret-value-0123456789');
    oidc.allowInsecureRequests(config);
    expect(describeEndpointFailure(await grant(config), tokenEndpoint)).toEqual({ code: 'CONNECTION_REFUSED', message: `connection refused (ECONNREFUSED 127.0.0.1:${port})` });
  });
});
