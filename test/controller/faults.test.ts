// The API server going away. The controller reaches it through a relay the test can cut, and
// the API server runs without its watch cache, so a watch that resumes from a resourceVersion
// etcd has compacted gets 410 Gone (the watch cache would hide compaction).
//
// - The API server stops (killed) for 20 s while bearer-token requests flow: none fails, the table is
//   kept; once it is back, a change made then is served and its status written.
// - The relay is cut, changes are made and etcd compacted behind the controller's back, the
//   relay restored: the watches resume from compacted versions, relist, and converge.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_START_TIMEOUT_MS } from '../cluster/harness.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';
import { startHttpsCognito, type HttpsCognito } from './https-cognito.ts';
import { mustKubectl, publicRoute, startControlPlane, startController, waitFor, waitForCondition, type ControlPlane, type PortcullisProcess } from './support.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const OUTAGE_MS = 20_000;

let plane: ControlPlane;
let pki: TestPki;
let provider: HttpsCognito;
let echo: EchoServer;
let relay: TcpProxy;
let controller: PortcullisProcess;

const apply = (yaml: string) => mustKubectl(plane.cluster, ['apply', '-f', '-'], yaml);
const logged = (msg: string, extra: (line: Record<string, unknown>) => boolean = () => true) => controller.logs.filter((line) => line.msg === msg && extra(line)).length;


beforeAll(async () => {
  pki = createTestPki();
  [plane, provider, echo] = await Promise.all([startControlPlane({ apiServerArgs: ['--watch-cache=false'] }), startHttpsCognito(pki), startEchoServer({ record: false })]);
  relay = await startTcpProxy(plane.cluster.server);
  // The controller's own kubeconfig (its ServiceAccount's token), pointed at the relay.
  const kubeconfig = join(plane.cluster.workDir, 'controller-via-relay.kubeconfig');
  writeFileSync(kubeconfig, readFileSync(plane.identity.kubeconfig, 'utf8').replaceAll(plane.cluster.server, relay.url));
  controller = await startController(kubeconfig, ['--allow-local-backends'], { NODE_EXTRA_CA_CERTS: pki.caFile });
  await waitFor('the controller to lead', () => logged('became the leader: writing status') > 0);
}, CLUSTER_START_TIMEOUT_MS);

afterAll(async () => {
  await controller?.stop();
  if (process.env.DEBUG_CONTROLLER_LOGS) writeFileSync(process.env.DEBUG_CONTROLLER_LOGS, controller.logs.map((l) => JSON.stringify(l)).join('\n'));
  await relay?.close();
  await Promise.all([plane?.cluster.stop(), provider?.close(), echo?.close()]);
  pki?.remove();
});

test('the API server stops for 20 s while requests flow: none fails, the table is kept, and later changes are served', async () => {
  await apply(`apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: machines, namespace: default}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.mint.clientIds.machine}
  bearer: {}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api, namespace: default}
spec:
  policyRef: {name: machines}
  rules:
    - matches: [{path: {value: /api}}]
      backends: [{url: "${echo.url}"}]
`);
  const headers = { authorization: `Bearer ${provider.token()}` };
  await waitFor('the route to be served', async () => (await fetch(`${controller.url}/api/x`, { headers })).status === 200);
  const compilesBefore = logged('table applied');

  // Four clients, back to back, for the whole outage and a little after.
  const statuses = new Map<number, number>();
  let flowing = true;
  const clients = Array.from({ length: 4 }, async () => {
    while (flowing) {
      const status = await fetch(`${controller.url}/api/x`, { headers }).then((r) => r.arrayBuffer().then(() => r.status), () => 0);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  // Abruptly, as a crash or a lost node: a graceful stop would hold open watches for 20 s more.
  const stoppedAt = Date.now();
  await plane.cluster.stopApiServer({ graceMs: 0 });
  await waitFor('the controller to notice', () => logged('watch failed; retrying with back-off') > 0, 10_000);
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - stoppedAt)));
  // Its Lease could not be renewed for longer than the renew deadline: it stepped down.
  await waitFor('the controller to step down', () => logged('stopped leading: no longer writing status') > 0, 5_000);
  expect(logged('stopped leading: no longer writing status')).toBe(1);
  expect(logged('table applied')).toBe(compilesBefore);
  await plane.cluster.startApiServer();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  flowing = false;
  await Promise.all(clients);

  expect(Object.fromEntries(statuses)).toEqual({ 200: expect.any(Number) });
  expect(statuses.get(200)).toBeGreaterThan(200);

  // Back: a change made now is served, and the leader (itself again) writes its status.
  await apply(publicRoute('after', echo.url));
  await waitFor('the route made after the outage to be served', async () => (await fetch(`${controller.url}/after`)).status === 200, 20_000);
  await waitFor('the controller to lead again', () => logged('became the leader: writing status') === 2, 20_000);
  await waitForCondition(plane.cluster, 'routes', 'default', 'after', 'Programmed', 'True');
}, 90_000);

test('a watch resumed from a compacted resourceVersion relists and converges', async () => {
  await apply(publicRoute('before', echo.url));
  await waitFor('the first route to be served', async () => (await fetch(`${controller.url}/before`)).status === 200);
  const failures = logged('watch failed; retrying with back-off');

  relay.cut();
  await waitFor('the controller to lose its watches', () => logged('watch failed; retrying with back-off') > failures, 10_000);
  // Behind its back: one Route goes, another comes, and etcd forgets the history in between.
  await mustKubectl(plane.cluster, ['delete', 'route', 'before', '-n', 'default']);
  await apply(publicRoute('behind', echo.url));
  for (let i = 0; i < 5; i++) await mustKubectl(plane.cluster, ['create', 'configmap', `churn-${i}`, '-n', 'default', '--from-literal=i=1']);
  const revision = await plane.cluster.compactEtcd();
  expect(revision).toBeGreaterThan(0);
  // Still the old table: the controller has seen none of it.
  expect((await fetch(`${controller.url}/before`)).status).toBe(200);
  relay.resume();

  await waitFor('the new route to be served', async () => (await fetch(`${controller.url}/behind`)).status === 200, 30_000);
  await waitFor('the deleted route to stop', async () => (await fetch(`${controller.url}/before`)).status === 404, 10_000);
  // The routes informer resumed from a compacted version: 410, then a fresh list (its log lines
  // may reach us after the new table serves).
  const relists = () => logged('watch expired (410 Gone); relisting', (line) => String(line.informer).startsWith('routes')) + logged('relisted', (line) => String(line.informer).startsWith('routes'));
  await waitFor('the routes informer to log its relist', () => relists() > 0, 10_000);
  await waitForCondition(plane.cluster, 'routes', 'default', 'behind', 'Programmed', 'True');
}, 90_000);
