// `portcullis demo`: the Cognito walkthrough on one machine — a local Cognito-like OpenID
// provider, an httpbin-like upstream, and the proxy in standalone mode over manifests written
// for them (edit them while it runs: changes are served within a second). The manifests hold a
// client secret and a session key: readable by the user alone, and removed when the demo stops.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEchoServer } from '../demo/echo-upstream.ts';
import { WELL_KNOWN_PAGES } from '../model/answer.ts';
import { startCognitoLikeProvider } from '../demo/provider.ts';
import type { Logger } from '../observability/logger.ts';
import { runStandalone } from './standalone.ts';

export interface DemoOptions {
  readonly proxyPort: number;
  readonly opsPort: number;
  readonly providerPort: number;
  readonly upstreamPort: number;
  /** The `iss` of X-Portcullis-Assertion. */
  readonly assertionIssuer: string;
  /** A PEM file of the keys that sign it; without one, a key generated at start. */
  readonly assertionKeyFile?: string;
  readonly logger: Logger;
}

export const MACHINE_SCOPE = 'default-m2m-resource-server/read';

export async function runDemo(options: DemoOptions) {
  const site = `http://127.0.0.1:${options.proxyPort}`;
  const sites = [site, `http://localhost:${options.proxyPort}`];
  const provider = await startCognitoLikeProvider({
    port: options.providerPort,
    webClient: { redirectURIs: sites.map((s) => `${s}/oauth2/callback`), logoutURIs: sites.flatMap((s) => [`${s}/`, `${s}${WELL_KNOWN_PAGES.signedOut}`]) },
  });
  // A browser gets a page from the upstream: what came from Portcullis, the assertion verified.
  const pages = { jwksURL: `${site}/.well-known/portcullis/jwks.json`, issuer: options.assertionIssuer, logoutPath: '/oauth2/logout' };
  const upstream = await startEchoServer({ port: options.upstreamPort, record: false, pages });
  const manifests = writeManifests(demoManifests(provider.issuer, provider.clients.web, provider.clients.machine.clientId, upstream.url));

  let proxy;
  try {
    proxy = await runStandalone({
      paths: [manifests.dir],
      listen: { host: '127.0.0.1', port: options.proxyPort },
      opsListen: { host: '127.0.0.1', port: options.opsPort },
      trustedProxies: [],
      logger: options.logger,
      drainDelayMs: 0,
      assertionIssuer: options.assertionIssuer,
      ...(options.assertionKeyFile === undefined ? {} : { assertionKeyFile: options.assertionKeyFile }),
    });
  } catch (error) {
    manifests.remove();
    await Promise.all([upstream.close(), provider.close()]);
    throw error;
  }

  manifests.started();
  const machine = provider.clients.machine;
  const tokenEndpoint = `${provider.origin}/oauth2/token`;
  const instructions = `
Portcullis demo — the Amazon Cognito walkthrough on one machine

  proxy       ${proxy.proxyURL}   (ops: ${proxy.opsURL}/readyz)
  provider    ${provider.issuer}   (Cognito-shaped tokens)
  upstream    ${upstream.url}   (answers /anything/* with what it received)
  manifests   ${manifests.file}   (edit it: changes are served within a second)

Sign in with a browser (authorization code flow):
  open ${site}/anything/test
  users: alice / alice-password (groups admins, users)   bob / bob-password (no groups)
  who am I: ${site}${WELL_KNOWN_PAGES.me}
  admins only: ${site}/admin   (bob gets 403, with "Sign in as someone else")
  sign out: ${site}/oauth2/logout

Machine to machine (client credentials grant):
  TOKEN=$(curl -s -u '${machine.clientId}:${machine.clientSecret}' \\
    -d grant_type=client_credentials -d scope=${MACHINE_SCOPE} \\
    ${tokenEndpoint} | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer $TOKEN" ${site}/anything/test          # 200, the upstream's echo
  curl -H "Authorization: Bearer invalid_token" ${site}/anything/test   # 401 invalid_token
  curl ${site}/anything/test                                              # 401, no token

What the upstream learns (it echoes it under "identity"): X-Portcullis-Subject, -Email, -Groups,
-Client-Id, and X-Portcullis-Assertion, a JWT signed for it, verified against
  ${site}/.well-known/portcullis/jwks.json   (or ${proxy.opsURL}/.well-known/jwks.json)
  see docs/identity.md for a few lines of Node or Python that do it

Ctrl-C stops everything.
`;
  return {
    instructions,
    proxy,
    provider,
    async close() {
      // The secrets first, before anything that could take long or fail.
      manifests.remove();
      await proxy.close();
      await Promise.all([upstream.close(), provider.close()]);
    },
  };
}

/**
 * The manifests, in a new folder of their own (mkdtemp makes it 0700; the file is 0600 too), and
 * remove(), which deletes them: at close(), and at once on SIGINT or SIGTERM, before whoever
 * stops the demo gets to it. Ctrl-C reaches the demo twice when the bin hands over to the pinned
 * Node.js (from the terminal, and forwarded by the launcher); Node's default for the second
 * would end the process before a graceful close() removed anything. Before started() nobody else
 * listens for signals: one then also ends the process. Any other exit removes them as well.
 */
function writeManifests(text: string): { readonly dir: string; readonly file: string; remove(): void; started(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
  const file = join(dir, 'demo.yaml');
  let starting = true;
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', remove);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const onSignal = () => {
    remove();
    if (starting) process.exit(130);
  };
  process.once('exit', remove);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  writeFileSync(file, text, { mode: 0o600 });
  return { dir, file, remove, started: () => (starting = false) };
}

function demoManifests(issuer: string, web: { clientId: string; clientSecret: string }, machineClientId: string, upstream: string): string {
  const sessionKey = randomBytes(32).toString('base64url');
  return `# Written by \`portcullis demo\`. One policy, two grants: people sign in through the browser,
# machines call with a client-credentials access token. Cognito access tokens carry no aud:
# the allowed clients are checked against client_id.
apiVersion: v1
kind: Secret
metadata: {name: cognito}
stringData:
  client-secret: "${web.clientSecret}"
  session-keys: "${sessionKey}"
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: cognito}
spec:
  issuer: ${issuer}
  provider: Cognito
  clientID: ${web.clientId}
  clientSecretRef: {name: cognito, key: client-secret}
  scopes: [openid, email, profile]
  browser:
    session: {secretRef: {name: cognito, key: session-keys}}
  bearer:
    allowedClientIDs: [${web.clientId}, ${machineClientId}]
  forward:
    headers:
      X-User-Sub: sub
      X-User-Email: email
      X-User-Groups: "cognito:groups"
      X-Client-Id: client_id
---
# The same user pool and client for /admin, for members of the admins group only: bob is refused.
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: admins}
spec:
  issuer: ${issuer}
  provider: Cognito
  clientID: ${web.clientId}
  clientSecretRef: {name: cognito, key: client-secret}
  scopes: [openid, email, profile]
  browser:
    session: {secretRef: {name: cognito, key: session-keys}, cookieName: _portcullis_admin}
  authorization:
    groups: [admins]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: httpbin}
spec:
  policyRef: {name: cognito}
  rules:
    - matches: [{path: {type: PathPrefix, value: /anything}}]
      backends: [{url: "${upstream}"}]
    - matches: [{path: {type: PathPrefix, value: /admin}}]
      policyRef: {name: admins}
      backends: [{url: "${upstream}"}]
    - matches: [{path: {type: Exact, value: /}}]
      public: true
      backends: [{url: "${upstream}"}]
`;
}
