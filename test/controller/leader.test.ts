// Lease election against an in-memory Lease API (optimistic concurrency as the API server does
// it) and a fake clock.
import { createLogger } from '../../src/observability/logger.ts';
import type { KubeClient, KubeRequest } from '../../src/kubernetes/client.ts';
import { createLeaderElector } from '../../src/status/leader.ts';
import { createFakeTimers, type FakeTimers } from './fake-timers.ts';

const logger = createLogger({ level: 'silent' });

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

function leaseServer() {
  let lease: Lease | null = null;
  let version = 1;
  let down = false;
  const writes: { method: string; holder: string | undefined }[] = [];
  const client = {
    async request(method: string, _path: string, options: KubeRequest = {}) {
      if (down) throw new Error('connect ECONNREFUSED');
      if (method === 'GET') return lease === null ? { status: 404, body: {} } : { status: 200, body: structuredClone(lease) };
      const body = options.body as Lease;
      if (method === 'POST') {
        if (lease !== null) return { status: 409, body: {} };
        lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(version++) } };
        writes.push({ method, holder: lease.spec.holderIdentity });
        return { status: 201, body: structuredClone(lease) };
      }
      if (lease === null) return { status: 404, body: {} };
      if (body.metadata.resourceVersion !== lease.metadata.resourceVersion) return { status: 409, body: {} };
      lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(version++) } };
      writes.push({ method, holder: lease.spec.holderIdentity });
      return { status: 200, body: structuredClone(lease) };
    },
  } as unknown as KubeClient;
  return {
    client,
    writes,
    get: () => lease,
    /** Another candidate's write, bypassing the elector. */
    set(spec: Lease['spec']) {
      lease = { metadata: { name: 'lease', namespace: 'ns', resourceVersion: String(version++) }, spec };
    },
    setDown: (value: boolean) => (down = value),
  };
}

function elector(server: ReturnType<typeof leaseServer>, timers: FakeTimers, identity = 'me') {
  const changes: boolean[] = [];
  const candidate = createLeaderElector({
    client: server.client,
    namespace: 'ns',
    name: 'lease',
    identity,
    logger,
    timers,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    random: () => 0,
    onChange: (leader) => changes.push(leader),
  });
  return { candidate, changes };
}

test('creates the Lease when there is none, then renews it every retry period', async () => {
  const timers = createFakeTimers();
  const server = leaseServer();
  const { candidate, changes } = elector(server, timers);
  candidate.start();
  await timers.advance(0);
  expect(changes).toEqual([true]);
  expect(server.get()!.spec).toMatchObject({ holderIdentity: 'me', leaseDurationSeconds: 15, leaseTransitions: 0 });
  const firstRenew = server.get()!.spec.renewTime;
  expect(firstRenew).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  await timers.advance(2_000);
  expect(server.get()!.spec.renewTime).not.toBe(firstRenew);
  expect(server.get()!.spec.acquireTime).toBe(firstRenew);
  expect(changes).toEqual([true]);
  await candidate.stop();
});

test('waits while another holder renews, judging expiry by its own clock; takes over once the record stops changing', async () => {
  const timers = createFakeTimers();
  const server = leaseServer();
  // The other holder's clock is an hour behind: its renewTime alone would look long expired.
  const renew = (n: number) => server.set({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: `2000-01-01T00:00:${String(n).padStart(2, '0')}.000000Z`, leaseTransitions: 3 });
  renew(0);
  const { candidate, changes } = elector(server, timers);
  candidate.start();
  for (let i = 1; i <= 10; i++) {
    await timers.advance(5_000);
    renew(i);
  }
  expect(changes).toEqual([]);
  // The other stops renewing: 15 s after this candidate last saw the record change, it takes over.
  await timers.advance(14_000);
  expect(changes).toEqual([]);
  await timers.advance(6_000);
  expect(changes).toEqual([true]);
  expect(server.get()!.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 4 });
  await candidate.stop();
});

test('a leader that cannot renew for the renew deadline stops leading, and leads again once it can', async () => {
  const timers = createFakeTimers();
  const server = leaseServer();
  const { candidate, changes } = elector(server, timers);
  candidate.start();
  await timers.advance(0);
  server.setDown(true);
  await timers.advance(8_000);
  expect(changes).toEqual([true]);
  await timers.advance(2_000);
  expect(changes).toEqual([true, false]);
  server.setDown(false);
  await timers.advance(5_000);
  expect(changes).toEqual([true, false, true]);
  expect(server.get()!.spec.leaseTransitions).toBe(0); // still its own Lease: a renewal, not a transition
  await candidate.stop();
});

test('a leader that finds another holder on its Lease steps down at once', async () => {
  const timers = createFakeTimers();
  const server = leaseServer();
  const { candidate, changes } = elector(server, timers);
  candidate.start();
  await timers.advance(0);
  server.set({ holderIdentity: 'usurper', leaseDurationSeconds: 15, renewTime: '2000-01-01T00:00:00.000000Z', leaseTransitions: 1 });
  await timers.advance(2_000);
  expect(changes).toEqual([true, false]);
  await candidate.stop();
});

test('two candidates: one wins, the other follows; stop() releases and the other takes over at once', async () => {
  const timers = createFakeTimers();
  const server = leaseServer();
  const a = elector(server, timers, 'a');
  const b = elector(server, timers, 'b');
  a.candidate.start();
  b.candidate.start();
  await timers.advance(10_000);
  expect([a.changes, b.changes]).toEqual([[true], []]);
  await a.candidate.stop();
  expect(server.get()!.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
  expect(a.changes).toEqual([true, false]);
  await timers.advance(2_000);
  expect(b.changes).toEqual([true]);
  expect(server.get()!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  await b.candidate.stop();
});
