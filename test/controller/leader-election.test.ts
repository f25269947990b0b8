// Two (then three) controller processes under the same ServiceAccount: one Lease, one leader
// writing status, every replica serving traffic; the leader stopping hands over at once (it
// releases the Lease), the leader dying hands over once its Lease expires.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CLUSTER_START_TIMEOUT_MS } from '../cluster/harness.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { CONTROLLER_NAMESPACE, mustKubectl, publicRoute, startControlPlane, startController, waitFor, waitForCondition, type ControlPlane, type PortcullisProcess } from './support.ts';

// Short enough for a test, long enough that a release (about one retry period) and an expiry
// (the whole Lease) cannot be mistaken for each other on a busy machine.
const ELECTION = ['--leader-election-lease-duration', '6s', '--leader-election-renew-deadline', '4s', '--leader-election-retry-period', '500ms'];
const LEASE = 'portcullis-leader';

let plane: ControlPlane;
let echo: EchoServer;
const controllers: PortcullisProcess[] = [];

const start = async () => {
  const controller = await startController(plane.identity.kubeconfig, ['--allow-local-backends', '--log-level', 'debug', ...ELECTION]);
  controllers.push(controller);
  return controller;
};
const identityOf = (controller: PortcullisProcess) => String(controller.logs.find((line) => line.msg === 'campaigning for leadership')?.identity);
const isLeader = (controller: PortcullisProcess) => {
  const changes = controller.logs.filter((line) => line.msg === 'became the leader: writing status' || line.msg === 'stopped leading: no longer writing status');
  return changes.at(-1)?.msg === 'became the leader: writing status';
};
const holder = async () => (await mustKubectl(plane.cluster, ['get', 'lease', LEASE, '-n', CONTROLLER_NAMESPACE, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
// A replica's own account of its writes: its log, which may reach us after the write's effect
// shows in the API server. Assertions that a write happened wait for the line; those that none
// did read it once the replica has had time to (wrongly) write.
const statusWrites = (controller: PortcullisProcess) => controller.logs.filter((line) => line.msg === 'status written').length;


beforeAll(async () => {
  [plane, echo] = await Promise.all([startControlPlane(), startEchoServer({ record: false })]);
}, CLUSTER_START_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(controllers.map((controller) => controller.stop()));
  await Promise.all([plane?.cluster.stop(), echo?.close()]);
});

test('two replicas elect one leader; both serve, only the leader writes status', async () => {
  const [a, b] = await Promise.all([start(), start()]);
  const leader = await waitFor('a leader', () => [a!, b!].find(isLeader));
  const follower = leader === a ? b! : a!;
  expect(await holder()).toBe(identityOf(leader));

  await mustKubectl(plane.cluster, ['apply', '-f', '-'], publicRoute('one', echo.url));
  await waitForCondition(plane.cluster, 'routes', 'default', 'one', 'Programmed', 'True');
  for (const replica of [a!, b!]) await waitFor('both replicas to serve', async () => (await fetch(`${replica.url}/one`)).status === 200);
  await waitFor("the leader's log of its status write", () => statusWrites(leader) > 0, 10_000);
  // A moment for a follower that (wrongly) wrote to have done so.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(isLeader(follower)).toBe(false);
  expect(statusWrites(follower)).toBe(0);
}, 60_000);

test('the leader stopping releases the Lease: the follower takes over at once and writes status', async () => {
  const [a, b] = controllers;
  const leader = isLeader(a!) ? a! : b!;
  const follower = leader === a ? b! : a!;
  const stopped = Date.now();
  await leader.stop();
  expect(leader.logs.some((line) => line.msg === 'released the Lease')).toBe(true);
  await waitFor('the follower to lead', () => isLeader(follower), 10_000);
  // Within a couple of retry periods (and their jitter), far less than the 6 s Lease.
  expect(Date.now() - stopped).toBeLessThan(3_500);
  expect(await holder()).toBe(identityOf(follower));

  await mustKubectl(plane.cluster, ['apply', '-f', '-'], publicRoute('two', echo.url));
  await waitForCondition(plane.cluster, 'routes', 'default', 'two', 'Programmed', 'True');
  // The only replica left wrote that; its log line may still be on its way.
  await waitFor("the new leader's log of its status write", () => statusWrites(follower) > 0, 10_000);
}, 60_000);

test('the leader dying: another replica takes over once the Lease expires', async () => {
  const leader = controllers[1]!.child.exitCode === null && isLeader(controllers[1]!) ? controllers[1]! : controllers[0]!;
  expect(isLeader(leader)).toBe(true);
  const standby = await start();
  await waitFor('the standby to be ready', async () => (await fetch(`${standby.opsURL}/readyz`)).status === 200);
  expect(isLeader(standby)).toBe(false);

  const killed = Date.now();
  leader.child.kill('SIGKILL');
  await waitFor('the standby to lead', () => isLeader(standby), 20_000);
  const takeover = Date.now() - killed;
  // Not before the 6 s Lease runs out (counted from the standby's last sight of a renewal), not much after.
  expect(takeover).toBeGreaterThan(4_500);
  expect(takeover).toBeLessThan(10_000);
  expect(await holder()).toBe(identityOf(standby));

  await mustKubectl(plane.cluster, ['apply', '-f', '-'], publicRoute('three', echo.url));
  await waitForCondition(plane.cluster, 'routes', 'default', 'three', 'Programmed', 'True');
  expect((await fetch(`${standby.url}/three`)).status).toBe(200);
}, 60_000);

test('outside a pod, with a kubeconfig that names no namespace, the Lease goes where deploy/rbac grants it', async () => {
  // The controller's own credentials, in a kubeconfig whose context names no namespace (as an
  // admin's often does), and no --leader-election-namespace.
  const config = parse(readFileSync(plane.identity.kubeconfig, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const { context } of config.contexts) delete context.namespace;
  const kubeconfig = join(plane.cluster.workDir, 'controller-no-namespace.kubeconfig');
  writeFileSync(kubeconfig, stringify(config), { mode: 0o600 });
  await Promise.all(controllers.map((controller) => controller.stop()));

  const controller = await startController(kubeconfig, ['--allow-local-backends', ...ELECTION]);
  controllers.push(controller);
  const defaulted = await controller.waitForLog((line) => String(line.msg).startsWith('no namespace for the leader-election Lease'));
  expect(defaulted.namespace).toBe(CONTROLLER_NAMESPACE);
  await waitFor('it to lead', () => isLeader(controller), 20_000);
  expect(await holder()).toBe(identityOf(controller));
  expect(controller.logs.filter((line) => line.msg === 'leader election request failed')).toEqual([]);
}, 60_000);
