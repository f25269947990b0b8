// `portcullis controller` end to end, as a user would run it: `kubectl apply -f crds/` and
// `-f deploy/rbac/`, the controller as its own process under its ServiceAccount (bound to those
// roles only), then `kubectl apply` of a policy, a Route, a Service and an EndpointSlice that
// points at an upstream in a test host; an HTTPS Cognito-shaped provider the process trusts
// through NODE_EXTRA_CA_CERTS. Last, the API server's audit log shows that every permission
// granted was used and none was denied.
import { readFileSync, readdirSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { AuditEvent } from '../cluster/harness.ts';
import { CLUSTER_START_TIMEOUT_MS } from '../cluster/harness.ts';
import { createTestHost, type HostedProcess, type TestHost } from '../support/netns.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';
import { newKey, writeKeys, type KeyFile } from '../identity/support.ts';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startHttpsCognito, type HttpsCognito } from './https-cognito.ts';
import {
  conditionsOf,
  CONTROLLER_USER,
  mustKubectl,
  RBAC_DIR,
  startControlPlane,
  startController,
  waitFor,
  waitForCondition,
  type ControlPlane,
  type PortcullisProcess,
} from './support.ts';

const NS = 'shop';
const READ = 'default-m2m-resource-server/read';
const SESSION_KEY = 'k'.repeat(48);
/** The Secret deploy/controller.yaml names for the assertion keys, and deploy/rbac lets it read alone. */
const ASSERTION_SECRET = 'portcullis-assertion-keys';

let plane: ControlPlane;
let pki: TestPki;
let provider: HttpsCognito;
let host: TestHost;
let upstream: HostedProcess;
let controller: PortcullisProcess;
let keyDir: string;
let keyA: KeyFile;
let keyB: KeyFile;

const apply = (yaml: string) => mustKubectl(plane.cluster, ['apply', '-f', '-'], yaml);
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${controller.url}${path}`, { headers, redirect: 'manual' });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function serviceAndSlice(name: string): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${NS}}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-1
  namespace: ${NS}
  labels: {kubernetes.io/service-name: ${name}}
addressType: IPv4
endpoints:
  - addresses: ["${host.address}"]
    conditions: {ready: true}
ports: [{name: http, port: 8080, protocol: TCP}]
`;
}

beforeAll(async () => {
  pki = createTestPki();
  [plane, provider, host] = await Promise.all([startControlPlane(), startHttpsCognito(pki), createTestHost()]);
  upstream = await host.startEchoServer(8080);
  await mustKubectl(plane.cluster, ['create', 'namespace', NS]);
  // The assertion key Secret, made as deploy/controller.yaml's header says (a key of our own here).
  [keyA, keyB] = [await newKey('sec1'), await newKey()];
  keyDir = mkdtempSync(join(tmpdir(), 'portcullis-e2e-keys-'));
  await mustKubectl(plane.cluster, ['-n', 'portcullis-system', 'create', 'secret', 'generic', ASSERTION_SECRET, `--from-file=keys.pem=${writeKeys(keyDir, 'a.pem', [keyA])}`]);
  controller = await startController(
    plane.identity.kubeconfig,
    ['--allowed-backend-host', 'api.partner.example', '--allowed-backend-host', '169.254.169.254', '--assertion-key-secret', `portcullis-system/${ASSERTION_SECRET}`],
    { NODE_EXTRA_CA_CERTS: pki.caFile },
  );
  await waitFor('the controller to be ready', async () => (await fetch(`${controller.opsURL}/readyz`)).status === 200);
}, CLUSTER_START_TIMEOUT_MS);

afterAll(async () => {
  await controller?.stop();
  if (process.env.DEBUG_CONTROLLER_LOGS) (await import('node:fs')).writeFileSync(process.env.DEBUG_CONTROLLER_LOGS, controller.logs.map((l) => JSON.stringify(l)).join('\n'));
  await Promise.all([plane?.cluster.stop(), provider?.close(), upstream?.stop().then(() => host.remove())]);
  pki?.remove();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

test('kubectl apply of a policy, a Route, a Service and its EndpointSlice: the proxy serves it, bearer tokens verified', async () => {
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: machines, namespace: ${NS}}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.mint.clientIds.machine}
  bearer: {tokenUse: access}
  authorization: {requiredScopes: [${READ}]}
  forward: {headers: {X-Client-Id: client_id}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: httpbin, namespace: ${NS}}
spec:
  policyRef: {name: machines}
  rules:
    - matches: [{path: {type: PathPrefix, value: /anything}}]
      backends: [{service: {name: httpbin, port: 80}}]
---
${serviceAndSlice('httpbin')}`);

  const token = provider.token();
  const ok = await waitFor('the route to be served', async () => {
    const response = await get('/anything/test', bearer(token));
    return response.status === 200 ? response : undefined;
  });
  const seen = (await ok.json()) as { path: string; headers: Record<string, string> };
  expect(seen.path).toBe('/anything/test');
  expect(seen.headers['x-client-id']).toBe(provider.mint.clientIds.machine);
  expect(seen.headers.authorization).toBeUndefined();

  const invalid = await get('/anything/test', bearer('invalid_token'));
  expect(invalid.status).toBe(401);
  expect(invalid.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  expect((await get('/anything/test')).status).toBe(401);
  const otherIssuer = provider.mint.mint(); // signed by the same keys, but iss is the mint's http:// issuer
  expect((await get('/anything/test', bearer(otherIssuer))).status).toBe(401);
  const noScope = provider.token({ scope: 'other/write' });
  expect((await get('/anything/test', bearer(noScope))).status).toBe(403);
}, 60_000);

test('X-Portcullis-Assertion: signed with the first key of the Secret, verifiable against both JWKS; a change to the Secret applies without restart', async () => {
  const assertionNow = async (): Promise<string> => {
    const response = await get('/anything/test', bearer(provider.token()));
    expect(response.status).toBe(200);
    return ((await response.json()) as { headers: Record<string, string> }).headers['x-portcullis-assertion']!;
  };
  const verifyAt = (assertion: string, jwks: string) => jwtVerify(assertion, createRemoteJWKSet(new URL(jwks)), { issuer: 'portcullis', audience: '127.0.0.1', algorithms: ['ES256'] });
  const proxyJWKS = `${controller.url}/.well-known/portcullis/jwks.json`;
  const opsJWKS = `${controller.opsURL}/.well-known/jwks.json`;
  const kids = async () => ((await (await fetch(opsJWKS)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
  const setKeys = (keys: KeyFile[]) =>
    apply(`apiVersion: v1
kind: Secret
metadata: {name: ${ASSERTION_SECRET}, namespace: portcullis-system}
stringData:
  keys.pem: ${JSON.stringify(keys.map((key) => key.pem).join(''))}
`);

  const signedByA = await assertionNow();
  expect(decodeProtectedHeader(signedByA).kid).toBe(keyA.kid);
  const { payload } = await verifyAt(signedByA, proxyJWKS);
  expect(payload).toMatchObject({ sub: provider.mint.clientIds.machine, client_id: provider.mint.clientIds.machine, auth: 'bearer', policy: `${NS}/machines`, route: `${NS}/httpbin`, groups: [] });
  expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  await verifyAt(signedByA, opsJWKS);

  // A new key first: it signs from now on; A stays published, so what it signed still verifies.
  await setKeys([keyB, keyA]);
  const signedByB = await waitFor('the new key to sign', async () => {
    const assertion = await assertionNow();
    return decodeProtectedHeader(assertion).kid === keyB.kid ? assertion : undefined;
  });
  expect(await kids()).toEqual([keyB.kid, keyA.kid]);
  await verifyAt(signedByB, proxyJWKS);
  await verifyAt(signedByA, proxyJWKS);

  // A dropped: no longer published, so its assertions stop verifying.
  await setKeys([keyB]);
  await waitFor('the old key to go', async () => (await kids()).length === 1);
  await expect(verifyAt(signedByA, proxyJWKS)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  await verifyAt(await assertionNow(), opsJWKS);

  // The Secret deleted: the keys read before keep signing, the replica stays ready.
  await mustKubectl(plane.cluster, ['-n', 'portcullis-system', 'delete', 'secret', ASSERTION_SECRET]);
  await controller.waitForLog((line) => line.msg === 'the assertion key Secret is gone or has no key keys.pem; the keys read before keep signing');
  expect(await kids()).toEqual([keyB.kid]);
  expect((await fetch(`${controller.opsURL}/readyz`)).status).toBe(200);
  expect(decodeProtectedHeader(await assertionNow()).kid).toBe(keyB.kid);
}, 60_000);

test('a replica whose assertion key Secret does not exist yet is not ready and refuses protected requests, until the Secret is made', async () => {
  // A controller of its own class (run as the admin: the RBAC under test stays the first one's).
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: keyless, namespace: ${NS}}
spec:
  className: keyless
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.mint.clientIds.machine}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: keyless, namespace: ${NS}}
spec:
  className: keyless
  policyRef: {name: keyless}
  rules:
    - matches: [{path: {value: /keyless}}]
      backends: [{service: {name: httpbin, port: 80}}]
`);
  const keyless = await startController(plane.cluster.kubeconfig, ['--class', 'keyless', '--no-leader-election', '--assertion-key-secret', 'portcullis-system/keyless-keys'], { NODE_EXTRA_CA_CERTS: pki.caFile });
  try {
    const waiting = await keyless.waitForLog((line) => line.msg === 'waiting for the assertion key Secret: until it exists with its key keys.pem, this replica is not ready and refuses protected requests');
    expect(waiting.create).toMatch(/^kubectl -n portcullis-system create secret generic keyless-keys --from-literal=keys\.pem="\$\(openssl genpkey /);
    const readyz = await fetch(`${keyless.opsURL}/readyz`);
    expect([readyz.status, await readyz.json()]).toEqual([503, { status: 'not ready', reason: 'waiting for the assertion keys' }]);
    expect(await (await fetch(`${keyless.url}/.well-known/portcullis/jwks.json`)).json()).toEqual({ keys: [] });
    const refused = await waitFor('the policy to be ready, and the key still missing', async () => {
      const response = await fetch(`${keyless.url}/keyless/x`, { headers: bearer(provider.token()) });
      const body = (await response.json()) as { error: { code: string } };
      return body.error.code === 'ASSERTION_KEY_UNAVAILABLE' ? response.status : undefined;
    });
    expect(refused).toBe(503);

    await mustKubectl(plane.cluster, ['-n', 'portcullis-system', 'create', 'secret', 'generic', 'keyless-keys', `--from-file=keys.pem=${writeKeys(keyDir, 'keyless.pem', [keyA])}`]);
    await waitFor('the replica to be ready', async () => (await fetch(`${keyless.opsURL}/readyz`)).status === 200);
    const served = await fetch(`${keyless.url}/keyless/x`, { headers: bearer(provider.token()) });
    expect(served.status).toBe(200);
    const assertion = ((await served.json()) as { headers: Record<string, string> }).headers['x-portcullis-assertion']!;
    expect(decodeProtectedHeader(assertion).kid).toBe(keyA.kid);
  } finally {
    await keyless.stop();
    await mustKubectl(plane.cluster, ['-n', 'portcullis-system', 'delete', 'secret', 'keyless-keys', '--ignore-not-found']);
    await mustKubectl(plane.cluster, ['-n', NS, 'delete', 'route,oidcpolicy', 'keyless']);
  }
}, 60_000);

test('kubectl get routes,oidcpolicies shows them Accepted, Resolved, Programmed and Ready, and the provider resolved', async () => {
  const table = await waitFor('printer columns to say True', async () => {
    const out = await mustKubectl(plane.cluster, ['get', 'routes,oidcpolicies', '-n', NS]);
    const rows = parseTables(out);
    const route = rows.find((row) => row.NAME === 'route.portcullis.dev/httpbin');
    const policy = rows.find((row) => row.NAME === 'oidcpolicy.portcullis.dev/machines');
    return route?.PROGRAMMED === 'True' && route.ACCEPTED === 'True' && route.RESOLVED === 'True' && policy?.READY === 'True' ? out : undefined;
  });
  expect(table).toMatch(/PROGRAMMED/);
  expect(parseTables(table).find((row) => row.NAME === 'oidcpolicy.portcullis.dev/machines')).toMatchObject({ PROVIDER: 'Cognito' });
  const wide = parseTables(await mustKubectl(plane.cluster, ['get', 'routes', '-n', NS, '-o', 'wide']));
  expect(wide.find((row) => row.NAME === 'httpbin')).toMatchObject({ POLICY: 'machines', REASON: 'Programmed' });
  const conditions = await waitForCondition(plane.cluster, 'routes', NS, 'httpbin', 'Programmed', 'True');
  expect(conditions.observedGeneration).toBe(1);

  // An edit to the spec: every condition catches up with the new generation; its transition time stays.
  await mustKubectl(plane.cluster, ['patch', 'route', 'httpbin', '-n', NS, '--type', 'merge', '-p', '{"spec":{"hostnames":[]}}']);
  const edited = await waitFor('observedGeneration 2', async () => {
    const all = await conditionsOf(plane.cluster, 'routes', NS, 'httpbin');
    return Object.values(all).every((c) => c.observedGeneration === 2) && Object.keys(all).length === 3 ? all : undefined;
  });
  expect(edited.Programmed!.lastTransitionTime).toBe(conditions.lastTransitionTime);
}, 30_000);

test('invalid manifests are refused at apply time, with the field and the reason', async () => {
  const badPath = await plane.cluster.kubectl(['apply', '-f', '-'], {
    input: `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: bad, namespace: ${NS}}
spec:
  rules:
    - matches: [{path: {type: Prefix, value: /x}}]
      backends: [{url: "http://example.com"}]
`,
  });
  expect(badPath.code).not.toBe(0);
  expect(badPath.stderr).toMatch(/spec\.rules\[0\]\.matches\[0\]\.path\.type: Unsupported value: "Prefix": supported values: "Exact", "PathPrefix", "RegularExpression"/);

  const both = await plane.cluster.kubectl(['apply', '-f', '-'], {
    input: `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: bad, namespace: ${NS}}
spec:
  rules:
    - public: true
      policyRef: {name: machines}
      backends: [{url: "http://example.com", service: {name: x, port: 80}}]
`,
  });
  expect(both.code).not.toBe(0);
  expect(both.stderr).toMatch(/A rule cannot set both public and policyRef/);
  expect(both.stderr).toMatch(/Exactly one of url or service must be set/);
  expect((await plane.cluster.kubectl(['get', 'route', 'bad', '-n', NS])).code).not.toBe(0);
}, 30_000);

test('a missing Secret: ResolvedRefs False naming it, with a Warning Event; True once it exists', async () => {
  await apply(`apiVersion: v1
kind: Secret
metadata: {name: web-session, namespace: ${NS}}
stringData: {key: "${SESSION_KEY}"}
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: web, namespace: ${NS}}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: web-client-id
  clientSecretRef: {name: web-client, key: client-secret}
  browser:
    session: {secretRef: {name: web-session, key: key}, secure: false}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: web, namespace: ${NS}}
spec:
  policyRef: {name: web}
  rules:
    - matches: [{path: {value: /app}}]
      backends: [{service: {name: httpbin, port: 80}}]
`);
  const missing = await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'web', 'ResolvedRefs', 'False');
  expect(missing).toMatchObject({ reason: 'SecretNotFound', message: `spec.clientSecretRef: Secret ${NS}/web-client does not exist.` });
  expect(await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'web', 'Ready', 'False')).toMatchObject({ reason: 'SecretNotFound' });
  // The Route stays in the table and fails closed.
  await waitForCondition(plane.cluster, 'routes', NS, 'web', 'ResolvedRefs', 'False', /OIDCPolicy shop\/web is not valid/);
  expect((await get('/app', { accept: 'text/html' })).status).toBe(503);
  const event = await waitFor('a Warning Event about the policy', async () => {
    const list = JSON.parse(await mustKubectl(plane.cluster, ['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=web,involvedObject.kind=OIDCPolicy', '-o', 'json'])) as { items: { type: string; reason: string; message: string; source?: unknown; reportingComponent?: string }[] };
    return list.items.find((item) => item.reason === 'SecretNotFound');
  });
  expect(event).toMatchObject({ type: 'Warning', reportingComponent: 'portcullis.dev/controller' });
  expect(event.message).toBe(`ResolvedRefs is False: spec.clientSecretRef: Secret ${NS}/web-client does not exist. Ready is False: The policy is not in use: ResolvedRefs is not True.`);

  await mustKubectl(plane.cluster, ['create', 'secret', 'generic', 'web-client', '-n', NS, '--from-literal=client-secret=first-secret']);
  const resolved = await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'web', 'ResolvedRefs', 'True');
  expect(resolved.message).toBe('Every reference is resolved.');
  await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'web', 'Ready', 'True');
  await waitForCondition(plane.cluster, 'routes', NS, 'web', 'ResolvedRefs', 'True');
}, 60_000);

test('editing the client Secret rotates the client secret without a restart', async () => {
  /** One sign-in as far as the code exchange; answers the credentials the provider saw. */
  // node:http, not fetch: undici's fetch sends `Sec-Fetch-Mode: cors`, which no navigation does.
  const exchange = async (): Promise<string | undefined> => {
    const start = await navigate(`${controller.url}/app`);
    if (start.statusCode !== 302) return undefined;
    const state = new URL(start.headers.location!).searchParams.get('state')!;
    const cookie = (start.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
    const before = provider.exchanges.length;
    await navigate(`${controller.url}/oauth2/callback?code=abc&state=${encodeURIComponent(state)}`, cookie);
    return provider.exchanges.slice(before).at(-1);
  };
  expect(await waitFor('a code exchange', exchange)).toBe('web-client-id:first-secret');

  const pid = controller.child.pid;
  await mustKubectl(plane.cluster, ['patch', 'secret', 'web-client', '-n', NS, '--type', 'merge', '-p', '{"stringData":{"client-secret":"second-secret"}}']);
  await waitFor('the new client secret in use', async () => (await exchange()) === 'web-client-id:second-secret');
  expect(controller.child.pid).toBe(pid);
  expect(controller.child.exitCode).toBeNull();
}, 60_000);

test('a missing Service: ResolvedRefs False naming it and 503; served once it and its EndpointSlice exist', async () => {
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: late, namespace: ${NS}}
spec:
  rules:
    - public: true
      matches: [{path: {value: /late}}]
      backends: [{service: {name: late, port: 80}}]
`);
  const missing = await waitForCondition(plane.cluster, 'routes', NS, 'late', 'ResolvedRefs', 'False');
  expect(missing).toMatchObject({ reason: 'BackendNotFound', message: `spec.rules[0].backends[0].service: Service ${NS}/late does not exist.` });
  expect((await get('/late')).status).toBe(503);
  // The 503 shows in the default columns: not Programmed, and why.
  expect(await waitForCondition(plane.cluster, 'routes', NS, 'late', 'Programmed', 'False')).toMatchObject({
    reason: 'BackendNotFound',
    message: `spec.rules[0].backends[0].service: Service ${NS}/late does not exist. Requests to spec.rules[0] get 503 BACKEND_UNRESOLVED.`,
  });
  expect(parseTables(await mustKubectl(plane.cluster, ['get', 'routes', 'late', '-n', NS]))).toMatchObject([{ NAME: 'late', ACCEPTED: 'True', RESOLVED: 'False', PROGRAMMED: 'False' }]);

  await apply(serviceAndSlice('late'));
  await waitForCondition(plane.cluster, 'routes', NS, 'late', 'ResolvedRefs', 'True');
  await waitForCondition(plane.cluster, 'routes', NS, 'late', 'Programmed', 'True');
  await waitFor('the late route to be served', async () => (await get('/late/x')).status === 200);
}, 60_000);

test('changes to Secrets and Services nothing refers to compile nothing', async () => {
  const compiles = () => controller.logs.filter((line) => line.msg === 'table applied').length;
  // Let rebuilds the previous test caused finish first: no new compile for longer than the
  // debounce's maximum hold-off.
  let settled = compiles();
  for (let quiet = 0; quiet < 2; ) {
    await new Promise((resolve) => setTimeout(resolve, 600));
    quiet = compiles() === settled ? quiet + 1 : 0;
    settled = compiles();
  }
  const before = compiles();
  await apply(`apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: ${NS}}
stringData: {x: "y"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated, namespace: ${NS}}
data: {x: "y"}
---
${serviceAndSlice('unrelated')}`);
  await mustKubectl(plane.cluster, ['patch', 'secret', 'unrelated', '-n', NS, '--type', 'merge', '-p', '{"stringData":{"x":"z"}}']);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(compiles()).toBe(before);
  // A status-only change (the controller's own writes included) compiles nothing either.
  await mustKubectl(plane.cluster, ['label', 'route', 'late', '-n', NS, 'team=checkout']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(compiles()).toBe(before);
}, 30_000);

test('deleting a Route stops its traffic', async () => {
  expect((await get('/late/x')).status).toBe(200);
  await mustKubectl(plane.cluster, ['delete', 'route', 'late', '-n', NS]);
  await waitFor('the deleted route to stop answering', async () => (await get('/late/x')).status === 404);
}, 30_000);

test('controller-mode safety, as a user sees it in statuses and Events', async () => {
  await mustKubectl(plane.cluster, ['create', 'namespace', 'other-team']);
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: plain-http, namespace: ${NS}}
spec:
  issuer: http://issuer.example
  clientID: c
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: no-session-key, namespace: ${NS}}
spec:
  issuer: ${provider.issuer}
  clientID: c
  browser: {}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: metadata, namespace: ${NS}}
spec:
  rules:
    - public: true
      matches: [{path: {value: /metadata}}]
      backends: [{url: "http://169.254.169.254"}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: elsewhere, namespace: ${NS}}
spec:
  rules:
    - public: true
      matches: [{path: {value: /elsewhere}}]
      backends: [{url: "https://api.other.example"}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: shared, namespace: ${NS}}
spec:
  hostnames: [shared.example.com]
  rules:
    - public: true
      matches: [{path: {value: /}}]
      backends: [{service: {name: httpbin, port: 80}}]
`);
  expect(await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'plain-http', 'Accepted', 'False')).toMatchObject({ reason: 'Invalid', message: 'spec.issuer: Must be an https URL; http is refused in controller mode.' });
  expect(await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'no-session-key', 'Accepted', 'False')).toMatchObject({
    message: 'spec.browser.session.secretRef: Required in controller mode, so that every replica shares the session key.',
  });
  // Listed as allowed, and still refused: link-local is refused unless --allow-local-backends.
  expect(await waitForCondition(plane.cluster, 'routes', NS, 'metadata', 'ResolvedRefs', 'False')).toMatchObject({
    reason: 'InvalidBackend',
    message: 'spec.rules[0].backends[0].url: 169.254.169.254 is a loopback or link-local address, refused in controller mode.',
  });
  expect(await waitForCondition(plane.cluster, 'routes', NS, 'elsewhere', 'ResolvedRefs', 'False')).toMatchObject({
    message: 'spec.rules[0].backends[0].url: api.other.example is not among the allowed backend hosts.',
  });
  expect((await get('/metadata')).status).toBe(503);

  // A policy whose provider cannot be reached: Ready False, and a Warning Event says why; the
  // Route it protects answers 503 and is not Programmed, naming the rule and the policy.
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: unreachable, namespace: ${NS}}
spec:
  issuer: https://127.0.0.1:1/us-east-1_Nowhere
  provider: Cognito
  clientID: c
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: behind-unreachable, namespace: ${NS}}
spec:
  policyRef: {name: unreachable}
  rules:
    - matches: [{path: {value: /behind-unreachable}}]
      backends: [{service: {name: httpbin, port: 80}}]
`);
  const notReady = await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'unreachable', 'Ready', 'False');
  expect(notReady.reason).toBe('DiscoveryFailed');
  expect(notReady.message).toMatch(/^Discovery at https:\/\/127\.0\.0\.1:1\/us-east-1_Nowhere\/\.well-known\/openid-configuration failed: /);
  expect(await waitForCondition(plane.cluster, 'routes', NS, 'behind-unreachable', 'Programmed', 'False')).toMatchObject({
    reason: 'PolicyNotReady',
    message: `spec.rules[0]: OIDCPolicy ${NS}/unreachable is not ready (DiscoveryFailed, see its Ready condition). Requests to spec.rules[0] get 503 POLICY_NOT_READY.`,
  });
  expect((await get('/behind-unreachable', bearer(provider.token()))).status).toBe(503);
  await waitFor('a DiscoveryFailed Event', async () => {
    const list = JSON.parse(await mustKubectl(plane.cluster, ['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=unreachable', '-o', 'json'])) as { items: { type: string; reason: string }[] };
    return list.items.some((item) => item.type === 'Warning' && item.reason === 'DiscoveryFailed');
  });

  // The same host and path claimed from another namespace, later: the older Route keeps it.
  // creationTimestamp counts whole seconds (a tie goes to namespace/name): be a second later.
  const created = Date.parse((await mustKubectl(plane.cluster, ['get', 'route', 'shared', '-n', NS, '-o', 'jsonpath={.metadata.creationTimestamp}'])).trim());
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, created + 1_100 - Date.now())));
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: shared, namespace: other-team}
spec:
  hostnames: [shared.example.com]
  rules:
    - public: true
      matches: [{path: {value: /}}]
      backends: [{url: "https://api.partner.example"}]
`);
  const conflicted = await waitForCondition(plane.cluster, 'routes', 'other-team', 'shared', 'Accepted', 'False');
  expect(conflicted).toMatchObject({ reason: 'Conflicted', message: `spec.rules[0].matches[0]: The host shared.example.com and path PathPrefix / are already served by Route ${NS}/shared, which is older.` });
  await waitForCondition(plane.cluster, 'routes', NS, 'shared', 'Accepted', 'True');
  const event = await waitFor('a Conflicted Event', async () => {
    const list = JSON.parse(await mustKubectl(plane.cluster, ['get', 'events', '-n', 'other-team', '--field-selector', 'involvedObject.name=shared', '-o', 'json'])) as { items: { type: string; reason: string }[] };
    return list.items.find((item) => item.reason === 'Conflicted');
  });
  expect(event.type).toBe('Warning');
  const described = await mustKubectl(plane.cluster, ['describe', 'route', 'shared', '-n', 'other-team']);
  expect(described).toMatch(/Warning\s+Conflicted\s+.*portcullis\.dev\/controller/);
}, 60_000);

test('a ClusterOIDCPolicy: a labelled namespace gets its public-by-accident Route protected, relabelling removes it; a public rule refused; conflict and RefNotPermitted in kubectl get and describe', async () => {
  const apps = 'cluster-apps';
  const outsider = 'cluster-outsider';
  await mustKubectl(plane.cluster, ['create', 'namespace', apps]);
  await mustKubectl(plane.cluster, ['create', 'namespace', outsider]);
  const inNamespace = (namespace: string) => serviceAndSlice('echo').replaceAll(`namespace: ${NS}`, `namespace: ${namespace}`);
  // A Route that forgot its policyRef: public, until its namespace is labelled for the default.
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: forgot, namespace: ${apps}}
spec:
  rules:
    - matches: [{path: {value: /cluster-default}}]
      backends: [{service: {name: echo, port: 80}}]
---
${inNamespace(apps)}`);
  await waitFor('the Route to be served, public', async () => (await get('/cluster-default')).status === 200);

  // The platform's policy, its client secret in the controller's namespace (no team can read it).
  await apply(`apiVersion: v1
kind: Secret
metadata: {name: platform-cognito, namespace: portcullis-system}
stringData: {client-secret: s3cr3t}
---
apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: platform}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.mint.clientIds.machine}
  clientSecretRef: {namespace: portcullis-system, name: platform-cognito, key: client-secret}
  bearer: {tokenUse: access}
  namespaceSelector: {matchLabels: {portcullis.dev/tenant: "yes"}}
  defaultFor: {matchLabels: {portcullis.dev/protect: platform}}
`);
  await waitForCondition(plane.cluster, 'clusteroidcpolicies', '', 'platform', 'Ready', 'True');
  expect((await get('/cluster-default')).status).toBe(200);

  await mustKubectl(plane.cluster, ['label', 'namespace', apps, 'portcullis.dev/protect=platform']);
  await waitFor('the Route to be protected', async () => (await get('/cluster-default')).status === 401);
  expect((await get('/cluster-default', bearer('invalid_token'))).status).toBe(401);
  expect((await get('/cluster-default', bearer(provider.token()))).status).toBe(200);
  const rules = await waitFor('status.rules to name the default', async () => {
    const out = (await mustKubectl(plane.cluster, ['get', 'route', 'forgot', '-n', apps, '-o', 'jsonpath={.status.rules}'])).trim();
    return out.includes('NamespaceDefault') ? out : undefined;
  });
  expect(JSON.parse(rules)).toEqual([{ policy: 'ClusterOIDCPolicy/platform', source: 'NamespaceDefault' }]);
  const defaulting = await waitFor('kubectl get coidc to count the namespace', async () => {
    const row = parseTables(await mustKubectl(plane.cluster, ['get', 'coidc', 'platform'])).find((r) => r.NAME === 'platform');
    return row?.NAMESPACES === '1' ? row : undefined;
  });
  expect(defaulting).toMatchObject({ ISSUER: provider.issuer, PROVIDER: 'Cognito', READY: 'True' });

  // Relabelled: no longer its default, the Route is public again.
  await mustKubectl(plane.cluster, ['label', 'namespace', apps, 'portcullis.dev/protect-']);
  await waitFor('the Route to be public again', async () => (await get('/cluster-default')).status === 200);
  await mustKubectl(plane.cluster, ['label', 'namespace', apps, 'portcullis.dev/protect=platform']);
  await waitFor('the Route to be protected again', async () => (await get('/cluster-default')).status === 401);

  // allowPublicRoutes false (the default): a public rule there is refused and answers 503.
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: wants-public, namespace: ${apps}}
spec:
  rules:
    - matches: [{path: {value: /cluster-public}}]
      public: true
      backends: [{service: {name: echo, port: 80}}]
`);
  const refused = await waitForCondition(plane.cluster, 'routes', apps, 'wants-public', 'Accepted', 'False');
  expect(refused).toMatchObject({ reason: 'PublicNotAllowed', message: `spec.rules[0].public: ClusterOIDCPolicy platform protects namespace ${apps} and allows no public rules (spec.allowPublicRoutes).` });
  expect((await get('/cluster-public')).status).toBe(503);
  expect((await get('/cluster-public', bearer(provider.token()))).status).toBe(503);

  // A reference from a namespace the namespaceSelector does not select: RefNotPermitted, 503.
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: borrows, namespace: ${outsider}}
spec:
  policyRef: {kind: ClusterOIDCPolicy, name: platform}
  rules:
    - matches: [{path: {value: /cluster-borrowed}}]
      backends: [{service: {name: echo, port: 80}}]
---
${inNamespace(outsider)}`);
  const notPermitted = await waitForCondition(plane.cluster, 'routes', outsider, 'borrows', 'ResolvedRefs', 'False');
  expect(notPermitted).toMatchObject({ reason: 'RefNotPermitted', message: `spec.policyRef: ClusterOIDCPolicy platform does not admit namespace ${outsider} (its spec.namespaceSelector does not select it).` });
  expect((await get('/cluster-borrowed', bearer(provider.token()))).status).toBe(503);
  const routeRows = parseTables(await mustKubectl(plane.cluster, ['get', 'routes', 'borrows', '-n', outsider, '-o', 'wide']));
  expect(routeRows).toMatchObject([{ NAME: 'borrows', RESOLVED: 'False', PROGRAMMED: 'False', REASON: 'RefNotPermitted' }]);
  expect(await mustKubectl(plane.cluster, ['describe', 'route', 'borrows', '-n', outsider])).toMatch(/Reason:\s+RefNotPermitted/);
  // Selected once labelled: served.
  await mustKubectl(plane.cluster, ['label', 'namespace', outsider, 'portcullis.dev/tenant=yes']);
  await waitFor('the reference to be permitted', async () => (await get('/cluster-borrowed', bearer(provider.token()))).status === 200);
  expect((await get('/cluster-borrowed')).status).toBe(401);

  // A second policy defaulting the same namespace, a second later: the older keeps it.
  const created = Date.parse((await mustKubectl(plane.cluster, ['get', 'coidc', 'platform', '-o', 'jsonpath={.metadata.creationTimestamp}'])).trim());
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, created + 1_100 - Date.now())));
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: latecomer}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: latecomer
  defaultFor: {matchExpressions: [{key: portcullis.dev/protect, operator: Exists}]}
`);
  const conflicted = await waitFor('kubectl get coidc -o wide to show the conflict', async () => {
    const row = parseTables(await mustKubectl(plane.cluster, ['get', 'coidc', 'latecomer', '-o', 'wide'])).find((r) => r.NAME === 'latecomer');
    return row?.CONFLICTED === apps ? row : undefined;
  });
  expect(conflicted).toMatchObject({ NAMESPACES: '0' });
  expect(await mustKubectl(plane.cluster, ['describe', 'coidc', 'latecomer'])).toMatch(
    new RegExp(`Default:\\s+false\\s+Message:\\s+ClusterOIDCPolicy platform is older and defaults this namespace too\\.\\s+Name:\\s+${apps}\\s+Reason:\\s+Conflicted`),
  );
  // Still the older one's: its tokens pass, the latecomer's client does not matter.
  expect((await get('/cluster-default', bearer(provider.token()))).status).toBe(200);

  // A cluster-scoped policy's trouble is an Event too, which kubectl describe shows.
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: secretless}
spec:
  issuer: ${provider.issuer}
  clientID: secretless
  clientSecretRef: {namespace: portcullis-system, name: nowhere, key: client-secret}
`);
  const missing = await waitForCondition(plane.cluster, 'clusteroidcpolicies', '', 'secretless', 'ResolvedRefs', 'False');
  expect(missing).toMatchObject({ reason: 'SecretNotFound', message: 'spec.clientSecretRef: Secret portcullis-system/nowhere does not exist.' });
  await waitFor('kubectl describe to show the Warning Event', async () => /Warning\s+SecretNotFound\s+.*portcullis\.dev\/controller/.test(await mustKubectl(plane.cluster, ['describe', 'coidc', 'secretless'])));
  expect(controller.logs.filter((line) => line.msg === 'could not record an Event')).toEqual([]);
}, 90_000);

test('a second installation: --class and --namespace, bound by a RoleBinding in its namespace only', async () => {
  // Its own ServiceAccount, bound to the same ClusterRole in one namespace (as deploy/rbac says
  // for --namespace); no Lease, so no leader election.
  const team = 'team-a';
  await mustKubectl(plane.cluster, ['create', 'namespace', team]);
  const teamIdentity = await plane.cluster.serviceAccount(team, 'portcullis');
  await mustKubectl(plane.cluster, ['create', 'rolebinding', 'portcullis', '-n', team, '--clusterrole=portcullis', `--serviceaccount=${team}:portcullis`]);
  // ClusterOIDCPolicies and Namespaces are cluster-scoped: bound cluster-wide (deploy/rbac/25-cluster-policies.yaml).
  await mustKubectl(plane.cluster, ['create', 'clusterrolebinding', `portcullis-cluster-policies-${team}`, '--clusterrole=portcullis-cluster-policies', `--serviceaccount=${team}:portcullis`]);
  const scoped = await startController(teamIdentity.kubeconfig, ['--namespace', team, '--class', 'team-a', '--no-leader-election', '--allow-local-backends']);
  try {
    await waitFor('the scoped controller to be ready', async () => (await fetch(`${scoped.opsURL}/readyz`)).status === 200);
    await apply(`apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: theirs, namespace: ${team}}
spec:
  className: team-a
  rules:
    - public: true
      matches: [{path: {value: /theirs}}]
      backends: [{service: {name: echo, port: 80}}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ours, namespace: ${team}}
spec:
  rules:
    - public: true
      matches: [{path: {value: /ours}}]
      backends: [{service: {name: echo, port: 80}}]
---
${serviceAndSlice('echo').replaceAll(`namespace: ${NS}`, `namespace: ${team}`)}`);
    await waitFor('each installation to serve its own Route', async () => (await fetch(`${scoped.url}/theirs`)).status === 200 && (await get('/ours')).status === 200);
    expect((await fetch(`${scoped.url}/ours`)).status).toBe(404);
    expect((await get('/theirs')).status).toBe(404);
    await waitForCondition(plane.cluster, 'routes', team, 'theirs', 'Programmed', 'True');
    await waitForCondition(plane.cluster, 'routes', team, 'ours', 'Programmed', 'True');
    const teamUser = `system:serviceaccount:${team}:portcullis`;
    // The API server writes its audit log as it answers: the status patch seen above may not be
    // in it yet.
    const teamEvents = await waitFor('the audit log to show its status patch', () => {
      const events = plane.cluster.auditEvents().filter((event) => event.user.username === teamUser);
      return events.some((event) => event.verb === 'patch' && event.objectRef?.name === 'theirs') ? events : undefined;
    });
    expect(teamEvents.filter((event) => event.responseStatus?.code === 403).map(describeEvent)).toEqual([]);
    // Its own namespace only, but for the cluster-scoped kinds it reads (list and watch).
    const clusterScoped = teamEvents.filter((event) => event.objectRef?.namespace === undefined);
    expect(teamEvents.filter((event) => event.objectRef?.namespace !== undefined && event.objectRef.namespace !== team).map(describeEvent)).toEqual([]);
    expect(clusterScoped.filter((event) => !['clusteroidcpolicies', 'namespaces'].includes(event.objectRef?.resource ?? '') || !['list', 'watch'].includes(event.verb)).map(describeEvent)).toEqual([]);
  } finally {
    await scoped.stop();
  }
}, 60_000);

test('the controller used every permission deploy/rbac grants it, and was denied none', async () => {
  // The identity can do no more than the roles say.
  for (const [verb, resource] of [['get', 'secrets'], ['update', 'routes'], ['delete', 'leases'], ['create', 'routes'], ['update', 'routes/status']] as const) {
    // As the admin impersonating it, so that these checks are not the controller's own requests.
    const answer = await plane.cluster.kubectl(['auth', 'can-i', verb, resource, '-n', 'portcullis-system'], { asUser: CONTROLLER_USER });
    expect({ verb, resource, answer: answer.stdout.trim() }).toEqual({ verb, resource, answer: 'no' });
  }

  const granted = grantedPermissions();
  const controllerEvents = () => plane.cluster.auditEvents().filter((event) => event.user.username === CONTROLLER_USER && event.impersonatedUser === undefined);
  const unusedIn = (events: AuditEvent[]) => granted.filter((permission) => !events.some((event) => grants(permission, event) && (event.responseStatus?.code ?? 0) < 400));
  // The last requests (a watch's ResponseStarted, an Event) may not be in the log yet: wait for
  // every permission to show up used, then check all of it.
  await waitFor('every granted permission to show up used in the audit log', () => unusedIn(controllerEvents()).length === 0, 10_000).catch(() => undefined);
  const events = controllerEvents();
  expect(events.length).toBeGreaterThan(10);

  const denied = events.filter((event) => event.responseStatus?.code === 403 || event.responseStatus?.code === 401);
  expect(denied.map(describeEvent)).toEqual([]);

  expect(unusedIn(events)).toEqual([]);

  // And nothing it did fell outside them (discovery and the like would show up here).
  const outside = events.filter((event) => !granted.some((permission) => grants(permission, event)));
  expect(outside.map(describeEvent)).toEqual([]);
}, 30_000);

// --- helpers ------------------------------------------------------------------------------------

/** A browser's top-level GET, as far as its response headers. */
function navigate(url: string, cookie?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
    if (cookie) headers.cookie = cookie;
    request(url, { headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    })
      .on('error', reject)
      .end();
  });
}

/** kubectl's tables (one per kind, separated by a blank line) as rows keyed by column header. */
function parseTables(text: string): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  for (const block of text.trim().split(/\n\s*\n/)) {
    const [header, ...lines] = block.split('\n');
    if (header === undefined) continue;
    const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
    for (const line of lines) {
      rows.push(Object.fromEntries(starts.map((col, i) => [col.name, line.slice(col.at, starts[i + 1]?.at ?? line.length).trim()])));
    }
  }
  return rows;
}

interface Permission {
  readonly apiGroup: string;
  readonly resource: string;
  readonly verb: string;
  /** Role rules apply in their namespace only. */
  readonly namespace: string | null;
  readonly resourceNames: readonly string[] | null;
}

function grantedPermissions(): Permission[] {
  const out: Permission[] = [];
  for (const file of readdirSync(RBAC_DIR).filter((name) => name.endsWith('.yaml'))) {
    for (const document of parseAllDocuments(readFileSync(join(RBAC_DIR, file), 'utf8'))) {
      const object = document.toJS() as { kind: string; metadata: { namespace?: string }; rules?: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[] };
      if (object.kind !== 'ClusterRole' && object.kind !== 'Role') continue;
      for (const rule of object.rules ?? []) {
        for (const apiGroup of rule.apiGroups) {
          for (const resource of rule.resources) {
            for (const verb of rule.verbs) {
              out.push({ apiGroup, resource, verb, namespace: object.kind === 'Role' ? object.metadata.namespace! : null, resourceNames: rule.resourceNames ?? null });
            }
          }
        }
      }
    }
  }
  return out;
}

function grants(permission: Permission, event: AuditEvent): boolean {
  const ref = event.objectRef;
  if (ref === undefined) return false;
  const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
  return (
    (ref.apiGroup ?? '') === permission.apiGroup &&
    resource === permission.resource &&
    event.verb === permission.verb &&
    (permission.namespace === null || ref.namespace === permission.namespace) &&
    (permission.resourceNames === null || (ref.name !== undefined && permission.resourceNames.includes(ref.name)))
  );
}

function describeEvent(event: AuditEvent): string {
  const ref = event.objectRef;
  return `${event.verb} ${ref?.apiGroup ?? ''}/${ref?.resource ?? ''}${ref?.subresource ? `/${ref.subresource}` : ''} ${ref?.namespace ?? ''}/${ref?.name ?? ''} → ${event.responseStatus?.code} (${event.requestURI})`;
}
