// Apache httpd + mod_auth_openidc (Debian's packages) as a peer: an OAuth 2.0 resource server
// that verifies the bearer JWT against the mint's JWKS and proxies to the echo upstream.
//
// mod_auth_openidc fetches keys over HTTPS only, so the JWKS is served here by a node:https
// server with a certificate from a throw-away CA, trusted through OIDCCABundlePath. It is
// fetched once (mod_auth_openidc caches it for an hour), so it costs the row nothing.
//
// Process layout, chosen to compare with nginx's one worker: the event MPM with one child
// process (ServerLimit 1) of 64 threads, so the 32 connections never wait for a thread, under
// a parent that only supervises. No access log (as nginx's row), keep-alive to the upstream
// (mod_proxy's connection pool, one connection per thread at most).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CognitoMint } from '../../src/demo/cognito-mint.ts';
import { createTestPki } from '../../test/support/tls.ts';
import { freePort, stopChild, waitForPort, type Running } from './processes.ts';
import { hasCommand } from './tools.ts';

const MODULES = '/usr/lib/apache2/modules';

export async function startApache(upstream: string, mint: CognitoMint): Promise<Running> {
  if (!hasCommand('apache2')) throw new Error('apache2 is not installed (Debian packages apache2, libapache2-mod-auth-openidc).');
  if (!existsSync(join(MODULES, 'mod_auth_openidc.so'))) throw new Error('mod_auth_openidc is not installed (Debian package libapache2-mod-auth-openidc).');

  const port = await freePort();
  const pki = createTestPki();
  const jwks = createServer({ key: pki.serverKey, cert: pki.serverCert }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(mint.jwks()));
  });
  jwks.listen(0, '127.0.0.1');
  await once(jwks, 'listening');
  const jwksPort = (jwks.address() as AddressInfo).port;
  // Read by the worker process, which runs as www-data when we are root.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-apache-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'ca.crt'), pki.caCert, { mode: 0o644 });
  pki.remove();
  const root = process.getuid?.() === 0;
  const config = `
ServerRoot ${dir}
DefaultRuntimeDir ${dir}
PidFile ${dir}/apache2.pid
ErrorLog ${dir}/error.log
LogLevel warn
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
${root ? 'User www-data\nGroup www-data' : ''}

LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule headers_module ${MODULES}/mod_headers.so
LoadModule proxy_module ${MODULES}/mod_proxy.so
LoadModule proxy_http_module ${MODULES}/mod_proxy_http.so
LoadModule auth_openidc_module ${MODULES}/mod_auth_openidc.so

StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60

OIDCOAuthVerifyJwksUri https://127.0.0.1:${jwksPort}/jwks.json
OIDCCABundlePath ${dir}/ca.crt
OIDCPassClaimsAs environment

# What Portcullis's bearer policy checks: issuer, token use, client and scope (the signature
# and expiry are mod_auth_openidc's own checks).
<Location "/">
  AuthType oauth20
  <RequireAll>
    Require claim iss:${mint.issuer}
    Require claim token_use:access
    Require claim client_id:${mint.clientIds.machine}
    Require claim scope:default-m2m-resource-server/read
  </RequireAll>
  RequestHeader set X-Client-Id "%{OIDC_CLAIM_client_id}e"
</Location>
ProxyPreserveHost On
ProxyPass "/" "${upstream}/"
`;
  writeFileSync(join(dir, 'apache2.conf'), config);
  const child = spawn('apache2', ['-f', join(dir, 'apache2.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    jwks.closeAllConnections();
    await new Promise((resolve) => jwks.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port);
  } catch (error) {
    const log = join(dir, 'error.log');
    const reason = existsSync(log) ? readFileSync(log, 'utf8').trim() : '';
    await stop();
    throw new Error(`apache2 did not start${reason ? `: ${reason}` : '.'}`, { cause: error });
  }
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, version: apacheVersion(), stop };
}

function apacheVersion(): string {
  // "Server version: Apache/2.4.65 (Debian)"
  const apache = /Server version: (\S+)/.exec(spawnSync('apache2', ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'Apache';
  const openidc = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libapache2-mod-auth-openidc'], { encoding: 'utf8' }).stdout?.trim();
  return `${apache} + mod_auth_openidc ${openidc || 'unknown'}`;
}
