// CEL rules on browser sessions: users signed in through the proxy (oidc-provider's own form,
// posted as a browser would), the rules run on the claims sealed in the session, and
// `portcullis explain` given the same session cookie traces the same rules to the same answer.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { send, signInThroughProxy } from '../identity/support.ts';
import { runCli } from '../support/cli.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { freePort } from '../support/ports.ts';

const alice = DEMO_USERS.find((user) => user.username === 'alice')!;
const bob = DEMO_USERS.find((user) => user.username === 'bob')!;

let dir: string;
let site: string;
let echo: EchoServer;
let idp: CognitoLikeProvider;
let proxy: PortcullisProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-rules-session-'));
  const port = await freePort();
  site = `http://127.0.0.1:${port}`;
  [echo, idp] = await Promise.all([startEchoServer(), startCognitoLikeProvider({ webClient: { redirectURIs: [`${site}/oauth2/callback`], logoutURIs: [`${site}/`] } })]);
  writeFileSync(
    join(dir, 'manifests.yaml'),
    secretYAML('keys', { web: idp.clients.web.clientSecret, session: 's'.repeat(48) }) +
      policyYAML('web', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: keys, key: web}
  scopes: [openid, email, profile]
  browser:
    session: {secretRef: {name: keys, key: session}}
  authorization:
    rules:
      - name: people-only
        cel: "auth.kind == 'session'"
      - name: example-staff
        cel: "auth.emailVerified && claims.email.endsWith('@example.com')"
      - name: admin-paths
        cel: "request.path.startsWith('/web/admin') ? 'admins' in auth.groups : true"
        message: The admin pages are for admins.`) +
      routeYAML('echo', `  rules:
    - matches: [{path: {value: /web}}]
      policyRef: {name: web}
      backends: [{url: "${echo.url}"}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${port}`]);
  // Until the provider has answered the proxy, a navigation gets 503 rather than the sign-in redirect.
  while ((await send(`${site}/web/`, { accept: 'text/html', 'sec-fetch-mode': 'navigate' })).status === 503) await new Promise((resolve) => setTimeout(resolve, 50));
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), idp?.close()]);
});

async function explainWith(cookie: string, path: string) {
  const result = await runCli(['explain', '-f', dir, '-o', 'json', '-H', `Cookie: ${cookie}`, `${site}${path}`]);
  expect(result.stderr).toBe('');
  return { exit: result.code, json: JSON.parse(result.stdout) as { checks: { check: string; result: string }[]; answer: { status: number | null; code: string | null; decision: string } } };
}

it('lets an admin at example.com into the admin pages, and the same session through explain', async () => {
  const cookie = await signInThroughProxy(site, '/web/admin/users', alice);
  expect((await send(`${site}/web/admin/users`, { cookie })).status).toBe(200);
  const { exit, json } = await explainWith(cookie, '/web/admin/users');
  expect(exit).toBe(0);
  expect(json.answer.decision).toBe('allow');
  expect(json.checks.map((step) => `${step.check}: ${step.result}`)).toEqual(['rule people-only: pass', 'rule example-staff: pass', 'rule admin-paths: pass']);
});

it('keeps someone outside the admins group out of the admin pages only, and explain agrees', async () => {
  const cookie = await signInThroughProxy(site, '/web/home', bob);
  expect((await send(`${site}/web/home`, { cookie })).status).toBe(200);
  const refused = await send(`${site}/web/admin/users`, { cookie });
  expect(refused.status).toBe(403);
  expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'RULE_DENIED', message: 'The admin pages are for admins.' } });
  const { exit, json } = await explainWith(cookie, '/web/admin/users');
  expect(exit).toBe(1);
  expect(json.answer).toMatchObject({ status: 403, code: 'RULE_DENIED' });
  expect(json.checks.at(-1)).toMatchObject({ check: 'rule admin-paths', result: 'fail' });
});
