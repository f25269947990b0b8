// Provider health in `kubectl get`, against the real API server: an OIDCPolicy shows how many
// signing keys its provider has and when they were last fetched (KEYS, LAST FETCH); when the
// provider stops after its keys were fetched, Ready stays True (the cached keys verify tokens) but
// Degraded turns True (RefreshFailing, naming the error) with a Warning Event, and it clears once
// the provider is back. The controller refetches every 2 s (--provider-refresh), so this takes
// seconds.
import { parse } from 'yaml';
import { CLUSTER_START_TIMEOUT_MS } from '../cluster/harness.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';
import { startHttpsCognito, type HttpsCognito } from './https-cognito.ts';
import { conditionsOf, mustKubectl, startControlPlane, startController, waitFor, waitForCondition, type ControlPlane, type PortcullisProcess } from './support.ts';

const NS = 'health';
const REFRESH_MS = 2_000;

let plane: ControlPlane;
let pki: TestPki;
let provider: HttpsCognito;
let echo: EchoServer;
let controller: PortcullisProcess;

const apply = (yaml: string) => mustKubectl(plane.cluster, ['apply', '-f', '-'], yaml);
const statusWrites = () => controller.logs.filter((line) => line.msg === 'status written' && line.object === `OIDCPolicy ${NS}/machines`).length;

beforeAll(async () => {
  pki = createTestPki();
  [plane, provider, echo] = await Promise.all([startControlPlane(), startHttpsCognito(pki), startEchoServer({ record: false })]);
  await mustKubectl(plane.cluster, ['create', 'namespace', NS]);
  // Debug level: the log says each status write, so the test can count them.
  controller = await startController(plane.identity.kubeconfig, ['--allow-local-backends', '--provider-refresh', `${REFRESH_MS / 1000}s`, '--log-level', 'debug'], { NODE_EXTRA_CA_CERTS: pki.caFile });
  await waitFor('the controller to lead', () => controller.logs.some((line) => line.msg === 'became the leader: writing status'));
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: machines, namespace: ${NS}}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.mint.clientIds.machine}
  bearer: {}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api, namespace: ${NS}}
spec:
  policyRef: {name: machines}
  rules:
    - matches: [{path: {value: /api}}]
      backends: [{url: "${echo.url}"}]
`);
}, CLUSTER_START_TIMEOUT_MS);

afterAll(async () => {
  await controller?.stop();
  if (process.env.DEBUG_CONTROLLER_LOGS) (await import('node:fs')).writeFileSync(process.env.DEBUG_CONTROLLER_LOGS, controller.logs.map((l) => JSON.stringify(l)).join('\n'));
  await Promise.all([plane?.cluster.stop(), provider?.close(), echo?.close()]);
  pki?.remove();
});

/** `kubectl get`'s table as rows by column name; column names may hold one space (LAST FETCH), columns are three or more apart. */
function parseTable(text: string): Record<string, string>[] {
  const [header = '', ...lines] = text.trimEnd().split('\n');
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index }));
  return lines.map((line) => Object.fromEntries(columns.map((column, i) => [column.name, line.slice(column.at, columns[i + 1]?.at ?? line.length).trim()])));
}

interface ProviderStatus {
  readonly type: string;
  readonly keys?: number;
  readonly lastFetchTime?: string;
  readonly lastError?: string;
  readonly lastErrorTime?: string;
}

async function providerStatus(): Promise<ProviderStatus | undefined> {
  const object = parse(await mustKubectl(plane.cluster, ['get', 'oidcpolicy', 'machines', '-n', NS, '-o', 'yaml'])) as { status?: { provider?: ProviderStatus } };
  return object.status?.provider;
}

interface EventItem {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
}

async function policyEvents(): Promise<EventItem[]> {
  const list = JSON.parse(await mustKubectl(plane.cluster, ['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=machines,involvedObject.kind=OIDCPolicy', '-o', 'json'])) as { items: EventItem[] };
  return list.items;
}

const bearerCall = async () => (await fetch(`${controller.url}/api/x`, { headers: { authorization: `Bearer ${provider.token()}` } })).status;

test('kubectl get oidcpolicies shows KEYS and LAST FETCH, and the last fetch moves on with each refresh period', async () => {
  const row = await waitFor('KEYS and LAST FETCH in kubectl get', async () => {
    const found = parseTable(await mustKubectl(plane.cluster, ['get', 'oidcpolicies', '-n', NS])).find((r) => r.NAME === 'machines');
    return found?.KEYS === '2' && found['LAST FETCH'] !== '' && found['LAST FETCH'] !== '<none>' ? found : undefined;
  });
  expect(row).toMatchObject({ PROVIDER: 'Cognito', READY: 'True', KEYS: '2', 'LAST FETCH': expect.stringMatching(/^\d+s$/) });
  const wide = parseTable(await mustKubectl(plane.cluster, ['get', 'oidcpolicies', '-n', NS, '-o', 'wide'])).find((r) => r.NAME === 'machines');
  expect(wide).toMatchObject({ DEGRADED: 'False' });
  expect((await conditionsOf(plane.cluster, 'oidcpolicies', NS, 'machines')).Degraded).toMatchObject({
    status: 'False',
    reason: 'RefreshSucceeded',
    message: "The last refresh of the provider's discovery document and keys succeeded: 2 signing key(s).",
    observedGeneration: 1,
  });

  const first = (await providerStatus())!;
  expect(first).toEqual({ type: 'Cognito', keys: 2, lastFetchTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
  const later = await waitFor('lastFetchTime to move on', async () => {
    const now = await providerStatus();
    return now?.lastFetchTime !== undefined && now.lastFetchTime > first.lastFetchTime! ? now : undefined;
  }, 10_000);
  expect(Date.parse(later.lastFetchTime!) - Date.parse(first.lastFetchTime!)).toBeGreaterThanOrEqual(REFRESH_MS - 1_000);

  // Write volume: while all is well, at most one status write per refresh period (the last fetch moving on).
  const writesBefore = statusWrites();
  await new Promise((resolve) => setTimeout(resolve, 5 * REFRESH_MS));
  const writes = statusWrites() - writesBefore;
  expect(writes).toBeGreaterThanOrEqual(1); // the last fetch moved on, and the log does say each write
  expect(writes).toBeLessThanOrEqual(6);
}, 60_000);

test('the provider stops after its keys are cached: Degraded True (RefreshFailing) with a Warning Event, Ready still True, tokens still verified; back: Degraded False', async () => {
  await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'machines', 'Ready', 'True');
  expect(await waitFor('the route to serve', async () => ((await bearerCall()) === 200 ? true : undefined))).toBe(true);
  const port = new URL(provider.issuer).port;

  await provider.stop();
  const degraded = await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'machines', 'Degraded', 'True', undefined, 15_000);
  expect(degraded).toMatchObject({ reason: 'RefreshFailing', observedGeneration: 1 });
  expect(degraded.message).toBe(
    `Refreshing the provider's discovery document and keys fails: Discovery at ${provider.issuer}/.well-known/openid-configuration failed: connection refused (ECONNREFUSED 127.0.0.1:${port}). The 2 signing key(s) fetched before keep verifying tokens.`,
  );
  const conditions = await conditionsOf(plane.cluster, 'oidcpolicies', NS, 'machines');
  expect(conditions.Ready).toMatchObject({ status: 'True', reason: 'Ready' });
  const failing = (await providerStatus())!;
  expect(failing).toMatchObject({ type: 'Cognito', keys: 2, lastError: `Discovery at ${provider.issuer}/.well-known/openid-configuration failed: connection refused (ECONNREFUSED 127.0.0.1:${port}).` });
  expect(Date.parse(failing.lastErrorTime!)).toBeGreaterThanOrEqual(Date.parse(failing.lastFetchTime!));
  const columns = parseTable(await mustKubectl(plane.cluster, ['get', 'oidcpolicies', '-n', NS, '-o', 'wide'])).find((r) => r.NAME === 'machines');
  expect(columns).toMatchObject({ READY: 'True', KEYS: '2', DEGRADED: 'True' });
  const warning = await waitFor('a Warning Event about the refresh', async () => (await policyEvents()).find((event) => event.reason === 'RefreshFailing'));
  expect(warning).toMatchObject({ type: 'Warning', message: `Degraded is True: ${degraded.message}` });
  // The route keeps serving on the cached keys, and the Route stays Programmed.
  expect(await bearerCall()).toBe(200);
  expect((await conditionsOf(plane.cluster, 'routes', NS, 'api')).Programmed).toMatchObject({ status: 'True' });

  await provider.start();
  const recovered = await waitForCondition(plane.cluster, 'oidcpolicies', NS, 'machines', 'Degraded', 'False', undefined, 15_000);
  expect(recovered).toMatchObject({ reason: 'RefreshSucceeded' });
  const back = (await providerStatus())!;
  // The last error stays, older than the last fetch.
  expect(back).toMatchObject({ keys: 2, lastError: failing.lastError });
  expect(Date.parse(back.lastFetchTime!)).toBeGreaterThan(Date.parse(back.lastErrorTime!));
  const normal = await waitFor('a Normal Event saying so', async () => (await policyEvents()).find((event) => event.reason === 'RefreshSucceeded'));
  expect(normal).toMatchObject({ type: 'Normal', message: 'Degraded is False: ' + recovered.message });
  expect((await policyEvents()).filter((event) => event.reason === 'RefreshFailing')).toHaveLength(1);
  expect(JSON.stringify(await policyEvents())).not.toMatch(/secret/i);
}, 60_000);
