// The status writer against a fake API server: leader only, no-op writes skipped, merge
// patches carrying the resourceVersion, conflicts retried on a fresher copy, Events on transitions.
import type { ObjectStatus, StatusCondition } from '../../src/model/status.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { KubeClient, KubeRequest, KubeResponse } from '../../src/kubernetes/client.ts';
import type { KubeObject } from '../../src/kubernetes/resources.ts';
import type { EventRecorder } from '../../src/status/events.ts';
import { createStatusWriter } from '../../src/status/writer.ts';
import { createFakeTimers } from './fake-timers.ts';

const logger = createLogger({ level: 'silent' });
const T0 = '2020-01-01T00:00:00Z';

interface Call {
  readonly method: string;
  readonly path: string;
  readonly options: KubeRequest;
}

function setup(answer: (call: Call, n: number) => KubeResponse<unknown> | Promise<KubeResponse<unknown>>) {
  const timers = createFakeTimers();
  const calls: Call[] = [];
  const cache = new Map<string, KubeObject>();
  const events: { type: string; reason: string; note: string; name: string }[] = [];
  const client = {
    async request(method: string, path: string, options: KubeRequest = {}) {
      const call = { method, path, options };
      calls.push(call);
      return answer(call, calls.length);
    },
  } as unknown as KubeClient;
  const recorder: EventRecorder = { record: (object, type, reason, note) => events.push({ type, reason, note, name: object.metadata.name }), flush: async () => {} };
  const writer = createStatusWriter({ client, logger, timers, events: recorder, current: (kind, namespace, name) => cache.get(`${kind}/${namespace}/${name}`) });
  const put = (object: KubeObject) => cache.set(`${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`, object);
  return { timers, calls, cache, events, writer, put };
}

const condition = (type: StatusCondition['type'], status: StatusCondition['status'], reason: StatusCondition['reason'], message = `${type} ${status}.`): StatusCondition => ({ type, status, reason, message, observedGeneration: 2 });
const routeStatus = (...conditions: StatusCondition[]): ObjectStatus => ({ kind: 'Route', namespace: 'ns', name: 'r', generation: 2, conditions });
const ALL_TRUE = [condition('Accepted', 'True', 'Accepted'), condition('ResolvedRefs', 'True', 'ResolvedRefs'), condition('Programmed', 'True', 'Programmed')];

function routeObject(resourceVersion: string, conditions: object[] = [], generation = 2): KubeObject {
  return { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Route', metadata: { name: 'r', namespace: 'ns', resourceVersion, generation, uid: 'u' }, spec: {}, status: { conditions } };
}

const ok = (call: Call): KubeResponse<unknown> => {
  const patch = call.options.body as { metadata: { resourceVersion: string }; status: object };
  return { status: 200, body: { ...routeObject(String(Number(patch.metadata.resourceVersion) + 1)), status: patch.status } };
};

test('only the leader writes; becoming leader writes what differs', async () => {
  const { calls, writer, put } = setup(ok);
  put(routeObject('10'));
  writer.publish([routeStatus(...ALL_TRUE)]);
  await new Promise((resolve) => setImmediate(resolve));
  expect(calls).toHaveLength(0);
  writer.setLeader(true);
  await writer.idle();
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({ method: 'PATCH', path: '/apis/portcullis.dev/v1alpha1/namespaces/ns/routes/r/status', options: { contentType: 'application/merge-patch+json' } });
  const body = calls[0]!.options.body as { metadata: { resourceVersion: string }; status: { conditions: { type: string; lastTransitionTime: string }[] } };
  expect(body.metadata.resourceVersion).toBe('10');
  expect(body.status.conditions.map((c) => c.type)).toEqual(['Accepted', 'ResolvedRefs', 'Programmed']);
  expect(body.status.conditions.every((c) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.lastTransitionTime))).toBe(true);
});

test('a write that changes nothing is skipped; lastTransitionTime is kept for a status that did not change; foreign conditions are kept', async () => {
  const { calls, writer, put } = setup(ok);
  const stored = ALL_TRUE.map((c) => ({ ...c, lastTransitionTime: T0 }));
  put(routeObject('10', [...stored, { type: 'example.com/Audited', status: 'True', reason: 'Audited', message: '', lastTransitionTime: T0 }]));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  expect(calls).toHaveLength(0);
  expect(writer.stats().skipped).toBe(1);

  writer.publish([routeStatus(ALL_TRUE[0]!, condition('ResolvedRefs', 'True', 'ResolvedRefs', 'Reworded.'), condition('Programmed', 'False', 'NoRules'))]);
  await writer.idle();
  const conditions = (calls[0]!.options.body as { status: { conditions: { type: string; lastTransitionTime: string; message: string }[] } }).status.conditions;
  expect(conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ message: 'Reworded.', lastTransitionTime: T0 });
  expect(conditions.find((c) => c.type === 'Programmed')!.lastTransitionTime).not.toBe(T0);
  expect(conditions.find((c) => c.type === 'example.com/Audited')).toMatchObject({ lastTransitionTime: T0 });
});

test('a conflict is retried with back-off, on the fresher copy the cache has by then', async () => {
  const { calls, writer, put, timers } = setup((call, n) => (n === 1 ? { status: 409, body: { kind: 'Status', code: 409, reason: 'Conflict' } } : ok(call)));
  put(routeObject('10'));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await timers.advance(0);
  expect(calls).toHaveLength(1);
  expect(writer.stats().conflicts).toBe(1);
  put(routeObject('11')); // someone else's write, as the watch reports it
  writer.recheck('Route', 'ns', 'r');
  await timers.advance(0);
  // The cache moving is news: the retry does not wait out its back-off.
  expect(calls).toHaveLength(2);
  expect((calls[1]!.options.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('11');
  await writer.idle();
  expect(writer.stats().written).toBe(1);
});

test('without news, a conflict or a failure is retried after the back-off', async () => {
  const { calls, writer, put, timers } = setup((call, n) => {
    if (n === 1) throw new Error('connect ECONNREFUSED');
    if (n === 2) return { status: 500, body: { kind: 'Status', code: 500, message: 'etcd' } };
    return ok(call);
  });
  put(routeObject('10'));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await timers.advance(0);
  expect(calls).toHaveLength(1);
  await timers.advance(199);
  expect(calls).toHaveLength(1);
  await timers.advance(1);
  expect(calls).toHaveLength(2);
  await timers.advance(400);
  expect(calls).toHaveLength(3);
  await writer.idle();
  expect(writer.stats()).toMatchObject({ written: 1, failures: 2 });
});

test('a status compiled from another generation waits for the rebuild', async () => {
  const { calls, writer, put } = setup(ok);
  put(routeObject('10', [], 3));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  expect(calls).toHaveLength(0);
});

test('the next write builds on our last write until the watch delivers it', async () => {
  const { calls, writer, put } = setup(ok);
  put(routeObject('10'));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  writer.update(routeStatus(ALL_TRUE[0]!, ALL_TRUE[1]!, condition('Programmed', 'False', 'NoRules')));
  await writer.idle();
  writer.update(routeStatus(...ALL_TRUE));
  await writer.idle();
  expect(calls.map((call) => (call.options.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion)).toEqual(['10', '11', '12']);
  // Once the watch delivers a version we did not write, the cache is the truth again.
  put(routeObject('20'));
  writer.update(routeStatus(ALL_TRUE[0]!, ALL_TRUE[1]!, condition('Programmed', 'False', 'NoRules')));
  await writer.idle();
  expect((calls[3]!.options.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('20');
});

test('Events: a condition turning False is a Warning, turning True again a Normal; a new object that starts True makes none', async () => {
  const { writer, put, events } = setup(ok);
  put(routeObject('10'));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  expect(events).toEqual([]);

  const missing = condition('ResolvedRefs', 'False', 'BackendNotFound', 'spec.rules[0].backends[0].service: Service ns/web does not exist.');
  writer.publish([routeStatus(ALL_TRUE[0]!, missing, ALL_TRUE[2]!)]);
  await writer.idle();
  expect(events).toEqual([{ type: 'Warning', reason: 'BackendNotFound', note: 'ResolvedRefs is False: spec.rules[0].backends[0].service: Service ns/web does not exist.', name: 'r' }]);

  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  expect(events.at(-1)).toEqual({ type: 'Normal', reason: 'ResolvedRefs', note: 'ResolvedRefs is True: ResolvedRefs True.', name: 'r' });
  expect(events).toHaveLength(2);
});

test('an object deleted meanwhile (404) is dropped, not retried', async () => {
  const { calls, writer, put, timers } = setup(() => ({ status: 404, body: { kind: 'Status', code: 404 } }));
  put(routeObject('10'));
  writer.setLeader(true);
  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  await timers.advance(60_000);
  expect(calls).toHaveLength(1);
});

test('a condition that was Unknown (a provider still being fetched) turning True makes no Event', async () => {
  const { writer, put, events } = setup(ok);
  put(routeObject('10'));
  writer.setLeader(true);
  writer.publish([routeStatus(ALL_TRUE[0]!, ALL_TRUE[1]!, condition('Programmed', 'Unknown', 'Pending'))]);
  await writer.idle();
  writer.publish([routeStatus(...ALL_TRUE)]);
  await writer.idle();
  expect(events).toEqual([]);
});

test("an OIDCPolicy's status.provider is written with its conditions, a change to it alone is a write, and fields it no longer states are removed", async () => {
  const policyObject = (resourceVersion: string, status: object = {}): KubeObject => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'OIDCPolicy',
    metadata: { name: 'p', namespace: 'ns', resourceVersion, generation: 2, uid: 'u' },
    spec: {},
    status,
  });
  const policyConditions = [condition('Accepted', 'True', 'Accepted'), condition('ResolvedRefs', 'True', 'ResolvedRefs')];
  const policyStatus = (provider: ObjectStatus['provider']): ObjectStatus => ({ kind: 'OIDCPolicy', namespace: 'ns', name: 'p', generation: 2, conditions: policyConditions, provider });
  const { calls, writer, put } = setup((call) => ({ status: 200, body: { ...policyObject(String(10 + calls.length)), status: (call.options.body as { status: object }).status } }));
  const providerPatch = (n: number) => (calls[n]!.options.body as { status: { provider: object } }).status.provider;
  const storedAs = (resourceVersion: string, provider: object) => put(policyObject(resourceVersion, { conditions: policyConditions.map((c) => ({ ...c, lastTransitionTime: T0 })), provider }));
  put(policyObject('10'));
  writer.setLeader(true);
  writer.publish([policyStatus({ type: 'Cognito' })]);
  await writer.idle();
  expect(calls).toHaveLength(1);
  expect(calls[0]!.path).toBe('/apis/portcullis.dev/v1alpha1/namespaces/ns/oidcpolicies/p/status');
  expect(calls[0]!.options.contentType).toBe('application/merge-patch+json');
  // Each field of ours, null where there is nothing to say (a merge patch removes it).
  expect(providerPatch(0)).toEqual({ type: 'Cognito', keys: null, lastFetchTime: null, lastError: null, lastErrorTime: null });

  // As the watch then shows it (with a field someone else writes into status.provider): nothing to do.
  storedAs('11', { type: 'Cognito', note: 'not ours' });
  writer.recheck('OIDCPolicy', 'ns', 'p');
  await writer.idle();
  expect(calls).toHaveLength(1);

  // The provider's health alone changes: a write, with only our fields.
  const healthy = { type: 'Cognito', keys: 2, lastFetchTime: '2020-01-01T00:10:00Z' } as const;
  writer.publish([policyStatus(healthy)]);
  await writer.idle();
  expect(calls).toHaveLength(2);
  expect(providerPatch(1)).toEqual({ ...healthy, lastError: null, lastErrorTime: null });
  storedAs('12', { ...healthy, note: 'not ours' });
  writer.recheck('OIDCPolicy', 'ns', 'p');
  await writer.idle();
  expect(calls).toHaveLength(2);

  // The same again (a republish for another policy's sake): no write.
  writer.publish([policyStatus({ ...healthy })]);
  await writer.idle();
  expect(calls).toHaveLength(2);

  // Another provider type, no keys yet: the fields that no longer hold are removed.
  writer.publish([policyStatus({ type: 'Generic' })]);
  await writer.idle();
  expect(calls).toHaveLength(3);
  expect(providerPatch(2)).toEqual({ type: 'Generic', keys: null, lastFetchTime: null, lastError: null, lastErrorTime: null });
});

test('Degraded turning True is a Warning and turning False a Normal Event; a Degraded no longer stated is removed', async () => {
  const policyObject = (resourceVersion: string, conditions: object[]): KubeObject => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'OIDCPolicy',
    metadata: { name: 'p', namespace: 'ns', resourceVersion, generation: 2, uid: 'u' },
    spec: {},
    status: { conditions, provider: { type: 'Cognito' } },
  });
  const ready = condition('Ready', 'True', 'Ready');
  const failing = condition('Degraded', 'True', 'RefreshFailing', 'Refreshing fails: connection refused.');
  const succeeded = condition('Degraded', 'False', 'RefreshSucceeded');
  const policyStatus = (...conditions: StatusCondition[]): ObjectStatus => ({ kind: 'OIDCPolicy', namespace: 'ns', name: 'p', generation: 2, conditions, provider: { type: 'Cognito' } });
  const { calls, writer, put, events } = setup((call) => ({ status: 200, body: policyObject(String(10 + calls.length), (call.options.body as { status: { conditions: object[] } }).status.conditions) }));
  const written = (n: number) => (calls[n]!.options.body as { status: { conditions: { type: string; status: string }[] } }).status.conditions;
  const landed = () => {
    put(calls.length === 0 ? policyObject('10', []) : policyObject(String(10 + calls.length), written(calls.length - 1)));
    writer.recheck('OIDCPolicy', 'ns', 'p');
  };
  landed();
  writer.setLeader(true);
  writer.publish([policyStatus(ready, succeeded)]);
  await writer.idle();
  expect(events).toEqual([]); // starting well is no news
  landed();

  writer.publish([policyStatus(ready, failing)]);
  await writer.idle();
  expect(events).toEqual([{ type: 'Warning', reason: 'RefreshFailing', note: 'Degraded is True: Refreshing fails: connection refused.', name: 'p' }]);
  landed();

  writer.publish([policyStatus(ready, succeeded)]);
  await writer.idle();
  expect(events.at(-1)).toEqual({ type: 'Normal', reason: 'RefreshSucceeded', note: 'Degraded is False: Degraded False.', name: 'p' });
  landed();

  // The provider lost its keys (a new issuer, say): Degraded is no longer stated, and goes.
  const pending = condition('Ready', 'Unknown', 'Pending');
  writer.publish([policyStatus(pending)]);
  await writer.idle();
  expect(written(calls.length - 1).map((c) => c.type)).toEqual(['Ready']);
  expect(events).toHaveLength(2);
  landed();
  writer.publish([policyStatus(pending)]);
  await writer.idle();
  expect(writer.stats().written).toBe(calls.length);
  const writes = calls.length;
  writer.publish([policyStatus({ ...pending })]);
  await writer.idle();
  expect(calls).toHaveLength(writes);
});

test("a ClusterOIDCPolicy's status goes to its cluster-scoped path, with status.namespaces; a Route's with status.rules; unchanged, nothing is written", async () => {
  const answer = (call: Call): KubeResponse<unknown> => {
    const patch = call.options.body as { metadata: { resourceVersion: string }; status: object };
    const cluster = call.path.includes('clusteroidcpolicies');
    const object = cluster ? clusterObject(String(Number(patch.metadata.resourceVersion) + 1)) : routeObject(String(Number(patch.metadata.resourceVersion) + 1));
    return { status: 200, body: { ...object, status: patch.status } };
  };
  const { calls, writer, put } = setup(answer);
  put(clusterObject('5'));
  put(routeObject('7', ALL_TRUE));
  const accepted = [condition('Accepted', 'True', 'Accepted'), condition('ResolvedRefs', 'True', 'ResolvedRefs')];
  const namespaces = [
    { name: 'a', default: true },
    { name: 'b', default: false, reason: 'Conflicted' as const, message: 'ClusterOIDCPolicy older is older and defaults this namespace too.' },
  ];
  const cluster: ObjectStatus = { kind: 'ClusterOIDCPolicy', namespace: '', name: 'platform', generation: 2, conditions: accepted, provider: { type: 'Cognito' }, namespaces, defaultNamespaces: 1 };
  const route: ObjectStatus = { ...routeStatus(...ALL_TRUE), rules: [{ policy: 'ClusterOIDCPolicy/platform', source: 'NamespaceDefault' }] };
  writer.setLeader(true);
  writer.publish([cluster, route]);
  await writer.idle();
  expect(calls.map((c) => c.path).sort()).toEqual(['/apis/portcullis.dev/v1alpha1/clusteroidcpolicies/platform/status', '/apis/portcullis.dev/v1alpha1/namespaces/ns/routes/r/status']);
  const clusterPatch = calls.find((c) => c.path.includes('clusteroidcpolicies'))!.options.body as { status: Record<string, unknown> };
  expect(clusterPatch.status).toMatchObject({ namespaces, defaultNamespaces: 1, provider: { type: 'Cognito' } });
  const routePatch = calls.find((c) => c.path.includes('routes'))!.options.body as { status: Record<string, unknown> };
  expect(routePatch.status.rules).toEqual([{ policy: 'ClusterOIDCPolicy/platform', source: 'NamespaceDefault' }]);

  // The cache catches up with what was written: the same statuses again write nothing.
  for (const call of calls) put((answer(call) as { body: KubeObject }).body);
  writer.publish([{ ...cluster }, { ...route, rules: [...route.rules!] }]);
  writer.recheck('ClusterOIDCPolicy', '', 'platform');
  writer.recheck('Route', 'ns', 'r');
  await writer.idle();
  expect(calls).toHaveLength(2);

  // A namespace changes hands: status.namespaces is replaced whole.
  writer.publish([{ ...cluster, namespaces: [{ name: 'a', default: true }], defaultNamespaces: 1 }, route]);
  await writer.idle();
  expect(calls).toHaveLength(3);
  expect((calls[2]!.options.body as { status: Record<string, unknown> }).status.namespaces).toEqual([{ name: 'a', default: true }]);
});

function clusterObject(resourceVersion: string): KubeObject {
  return { apiVersion: 'portcullis.dev/v1alpha1', kind: 'ClusterOIDCPolicy', metadata: { name: 'platform', resourceVersion, generation: 2, uid: 'c' }, spec: {}, status: {} };
}
