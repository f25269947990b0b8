// A ClusterOIDCPolicy's browser sign-in, with the real `portcullis standalone` process and the
// Cognito-like provider: a Route that names no policy, in a namespace the policy defaults, sends a
// browser to the provider's form; the callback lands it back signed in (a cookie jar and
// node:http, no browser). The session is bound to the cluster policy: on a Route protected by a
// namespaced OIDCPolicy with the same issuer, client, cookie name and session key, it is no
// session (the browser is sent to sign in), and the upstream never sees the cookie.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { send } from '../proxy/harness.ts';
import { startEchoServer, type EchoRecord, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { freePort } from '../support/ports.ts';

const SESSION_KEY = 's'.repeat(48);

let echo: EchoServer;
let idp: CognitoLikeProvider;
let proxy: PortcullisProcess;
let site: string;
let dir: string;

beforeAll(async () => {
  const port = await freePort();
  site = `http://127.0.0.1:${port}`;
  [echo, idp] = await Promise.all([startEchoServer(), startCognitoLikeProvider({ webClient: { redirectURIs: [`${site}/oauth2/callback`] } })]);
  const policySpec = (secretRef: string) => `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {${secretRef}name: web, key: client-secret}
  scopes: [openid, email, profile]
  browser: {session: {cookieName: _sess, secretRef: {${secretRef}name: web, key: session}}}`;
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-browser-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {sso: "on"}}
---
apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: sso}
spec:
${policySpec('namespace: platform, ')}
  defaultFor: {matchLabels: {sso: "on"}}
---
apiVersion: v1
kind: Secret
metadata: {name: web, namespace: platform}
stringData: {client-secret: ${JSON.stringify(idp.clients.web.clientSecret)}, session: ${SESSION_KEY}}
---
apiVersion: v1
kind: Secret
metadata: {name: web, namespace: shop}
stringData: {client-secret: ${JSON.stringify(idp.clients.web.clientSecret)}, session: ${SESSION_KEY}}
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: sso, namespace: shop}
spec:
${policySpec('')}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: default-protected, namespace: shop}
spec:
  rules: [{matches: [{path: {value: /cluster}}], backends: [{url: "${echo.url}"}]}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: own-policy, namespace: shop}
spec:
  policyRef: {name: sso}
  rules: [{matches: [{path: {value: /namespaced}}], backends: [{url: "${echo.url}"}]}]
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${port}`]);
  await proxy.waitForLog((line) => line.policy === 'ClusterOIDCPolicy/sso' && line.condition === 'Ready' && line.status === 'True');
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), idp?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Enough of a browser for the code flow: a cookie jar, redirects by hand, navigations. */
function cookieJar() {
  const cookies = new Map<string, string>();
  return {
    cookies,
    async navigate(url: string, init: { form?: Record<string, string> } = {}) {
      const headers: Record<string, string> = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
      if (cookies.size > 0) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const body = init.form === undefined ? undefined : Buffer.from(new URLSearchParams(init.form).toString());
      const response = await send(url, { method: body === undefined ? 'GET' : 'POST', headers, ...(body === undefined ? {} : { body }) });
      for (const line of response.headers['set-cookie'] ?? []) {
        const pair = line.split(';')[0]!;
        const name = pair.slice(0, pair.indexOf('=')).trim();
        const value = pair.slice(pair.indexOf('=') + 1).trim();
        if (value === '' || /max-age=0/i.test(line)) cookies.delete(name);
        else cookies.set(name, value);
      }
      return response;
    },
  };
}

/** Signs in at `url` through the provider's form; resolves once the proxy has sent the browser back to `url`. */
async function signIn(jar: ReturnType<typeof cookieJar>, url: string): Promise<void> {
  let next = url;
  for (let hop = 0; hop < 12; hop++) {
    const response = await jar.navigate(next);
    if (response.status === 200 && next.startsWith(idp.origin)) {
      const action = /<form method="post" action="([^"]+)"/.exec(response.body.toString())?.[1];
      if (action === undefined) throw new Error(`No sign-in form at ${next}.`);
      const submitted = await jar.navigate(new URL(action, next).href, { form: { username: DEMO_USERS[0]!.username, password: DEMO_USERS[0]!.password } });
      next = new URL(submitted.headers.location!, next).href;
      continue;
    }
    const location = response.headers.location;
    if (location === undefined) throw new Error(`${next} answered ${response.status} without a redirect.`);
    next = new URL(location, next).href;
    if (next === url) return;
  }
  throw new Error('Too many redirects while signing in.');
}

describe("a ClusterOIDCPolicy's browser sign-in", () => {
  it('signs a browser in on a Route its namespace default protects, and binds the session to the cluster policy', async () => {
    const jar = cookieJar();
    const first = await jar.navigate(`${site}/cluster`);
    expect(first.status).toBe(302);
    expect(first.headers.location).toMatch(new RegExp(`^${idp.origin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/`));

    await signIn(jar, `${site}/cluster`);
    expect(jar.cookies.has('_sess')).toBe(true);
    const served = await jar.navigate(`${site}/cluster`);
    expect(served.status).toBe(200);
    const seen = JSON.parse(served.body.toString()) as EchoRecord;
    expect(seen.headers['x-portcullis-email']).toBe(DEMO_USERS[0]!.email);
    expect(seen.headers.cookie ?? '').not.toMatch(/(^|;\s*)_sess/);

    // The same cookie, the same key, issuer and client, another policy: no session there.
    const elsewhere = await jar.navigate(`${site}/namespaced`);
    expect(elsewhere.status).toBe(302);
    expect(elsewhere.headers.location).toMatch(new RegExp(`^${idp.origin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/`));
  });
});
