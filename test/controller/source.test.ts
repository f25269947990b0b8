// The Kubernetes source without an API server: fake informers, a fake clock. What it must do
// (Contour's habits): never compile before every informer has listed, compile once per burst,
// and only for changes that can matter.
import type { Snapshot } from '../../src/model/snapshot.ts';
import type { KubeClient } from '../../src/kubernetes/client.ts';
import type { Informer, InformerOptions } from '../../src/sources/kubernetes/informer.ts';
import type { KubeObject, WatchedKind } from '../../src/kubernetes/resources.ts';
import { createKubernetesSource, type KubernetesSource } from '../../src/sources/kubernetes/source.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createFakeTimers, type FakeTimers } from './fake-timers.ts';

interface FakeInformer extends Informer {
  readonly kind: WatchedKind;
  readonly namespace: string | null;
  readonly objects: Map<string, KubeObject>;
  sync(): void;
  put(object: KubeObject): void;
  remove(object: KubeObject): void;
}

const logger = createLogger({ level: 'silent' });

function setup(options: { namespaces?: string[] | null; className?: string } = {}) {
  const timers: FakeTimers = createFakeTimers();
  const informers: FakeInformer[] = [];
  const snapshots: { snapshot: Snapshot; changes: readonly string[] }[] = [];
  const objectChanges: string[] = [];
  const source: KubernetesSource = createKubernetesSource({
    client: {} as KubeClient,
    namespaces: options.namespaces ?? null,
    className: options.className ?? 'portcullis',
    logger,
    timers,
    onSnapshot: (snapshot, changes) => snapshots.push({ snapshot, changes }),
    onObjectChange: (kind, namespace, name) => objectChanges.push(`${kind} ${namespace}/${name}`),
    createInformer(informerOptions: InformerOptions) {
      const objects = new Map<string, KubeObject>();
      let synced = false;
      const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      const informer: FakeInformer = {
        kind: informerOptions.resource.kind,
        namespace: informerOptions.namespace,
        name: `${informerOptions.resource.plural} in ${informerOptions.namespace ?? 'all'}`,
        objects,
        synced: () => synced,
        list: () => [...objects.values()],
        get: (namespace, name) => objects.get(`${namespace}/${name}`),
        start() {},
        async stop() {},
        sync() {
          synced = true;
          informerOptions.onSynced?.(false);
        },
        put(object) {
          const existed = objects.has(key(object));
          objects.set(key(object), object);
          informerOptions.onEvent(existed ? 'update' : 'add', object);
        },
        remove(object) {
          objects.delete(key(object));
          informerOptions.onEvent('delete', object);
        },
      };
      informers.push(informer);
      return informer;
    },
  });
  source.start();
  const informer = (kind: WatchedKind, namespace: string | null = null) => informers.find((i) => i.kind === kind && i.namespace === namespace)!;
  return { timers, informers, snapshots, objectChanges, source, informer };
}

let rv = 1;
const meta = (namespace: string, name: string, extra: Record<string, unknown> = {}) => ({ name, namespace, resourceVersion: String(rv++), generation: 1, ...extra });

function route(namespace: string, name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Route',
    metadata: meta(namespace, name, { creationTimestamp: '2026-01-01T00:00:00Z' }),
    spec: { rules: [{ backends: [{ service: { name: 'web', port: 80 } }] }], ...spec },
  };
}

function policy(namespace: string, name: string, secret: string): KubeObject {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'OIDCPolicy',
    metadata: meta(namespace, name),
    spec: { issuer: 'https://issuer.example', clientID: 'c', clientSecretRef: { name: secret, key: 'k' }, bearer: {} },
  };
}

const secret = (namespace: string, name: string, value = 'v'): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: meta(namespace, name), data: { k: Buffer.from(value).toString('base64') } });

test('nothing is compiled before every informer has listed, then once', async () => {
  const { informers, snapshots, timers, informer } = setup();
  expect(informers).toHaveLength(8);
  informer('Route').put(route('a', 'r'));
  for (const one of informers.slice(0, -1)) one.sync();
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(0);
  informers.at(-1)!.sync();
  expect(snapshots).toHaveLength(1);
  expect(snapshots[0]!.snapshot.routes.map((r) => r.metadata.name)).toEqual(['r']);
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(1);
});

test('a burst of changes compiles once, after the hold-off', async () => {
  const { informers, snapshots, timers, informer } = setup();
  for (const one of informers) one.sync();
  for (let i = 0; i < 20; i++) informer('Route').put(route('a', `r${i}`));
  expect(snapshots).toHaveLength(1);
  await timers.advance(49);
  expect(snapshots).toHaveLength(1);
  await timers.advance(1);
  expect(snapshots).toHaveLength(2);
  expect(snapshots[1]!.snapshot.routes).toHaveLength(20);
  expect(snapshots[1]!.changes).toHaveLength(10); // the log names the first ten
});

test('a Secret, Service or EndpointSlice triggers a rebuild only when something refers to it', async () => {
  const { informers, snapshots, timers, informer } = setup();
  informer('OIDCPolicy').put(policy('a', 'p', 'client'));
  informer('Route').put(route('a', 'r'));
  for (const one of informers) one.sync();
  expect(snapshots).toHaveLength(1);

  informer('Secret').put(secret('a', 'unrelated'));
  informer('Secret').put(secret('b', 'client')); // same name, other namespace
  informer('Service').put({ apiVersion: 'v1', kind: 'Service', metadata: meta('a', 'other'), spec: { ports: [{ port: 80 }] } });
  informer('EndpointSlice').put({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta('a', 'other-1', { labels: { 'kubernetes.io/service-name': 'other' } }), addressType: 'IPv4', endpoints: [] });
  informer('ConfigMap').put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('a', 'cm'), data: {} });
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(1);

  informer('Secret').put(secret('a', 'client'));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(2);
  expect(snapshots[1]!.changes).toEqual(['add Secret a/client']);
  expect(snapshots[1]!.snapshot.secrets.map((s) => s.metadata.name)).toEqual(['client']); // unreferenced ones are not even handed on

  informer('EndpointSlice').put({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta('a', 'web-1', { labels: { 'kubernetes.io/service-name': 'web' } }), addressType: 'IPv4', endpoints: [] });
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(3);
  expect(snapshots[2]!.changes).toEqual(['add EndpointSlice a/web-1']);
});

test('a Route whose status alone changed is rechecked by the status writer, not recompiled', async () => {
  const { informers, snapshots, timers, informer, objectChanges } = setup();
  const original = route('a', 'r');
  informer('Route').put(original);
  for (const one of informers) one.sync();
  objectChanges.length = 0;
  informer('Route').put({ ...original, metadata: { ...original.metadata, resourceVersion: String(rv++) }, status: { conditions: [] } });
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(1);
  expect(objectChanges).toEqual(['Route a/r']);

  informer('Route').put(route('a', 'r', { hostnames: ['changed.example'] }));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(2);
});

test('Routes and policies of another class are neither compiled nor watched for changes', async () => {
  const { informers, snapshots, timers, informer, objectChanges } = setup({ className: 'internal' });
  informer('Route').put(route('a', 'default-class'));
  informer('Route').put(route('a', 'mine', { className: 'internal' }));
  for (const one of informers) one.sync();
  expect(snapshots[0]!.snapshot.routes.map((r) => r.metadata.name)).toEqual(['mine']);
  informer('Route').put(route('a', 'default-class', { hostnames: ['x.example'] }));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(1);
  expect(objectChanges).not.toContain('Route a/default-class');
  // Moving into this class is a change, and so is moving out.
  informer('Route').put(route('a', 'default-class', { className: 'internal' }));
  await timers.advance(1_000);
  expect(snapshots.at(-1)!.snapshot.routes).toHaveLength(2);
  informer('Route').put(route('a', 'mine', { className: 'other' }));
  await timers.advance(1_000);
  expect(snapshots.at(-1)!.snapshot.routes.map((r) => r.metadata.name)).toEqual(['default-class']);
});

test('--namespace: one informer per namespaced kind and namespace, one per cluster-scoped kind', () => {
  const { informers } = setup({ namespaces: ['a', 'b', 'a'] });
  expect(informers).toHaveLength(14);
  expect(new Set(informers.map((i) => i.namespace))).toEqual(new Set(['a', 'b', null]));
  expect(informers.filter((i) => i.namespace === null).map((i) => i.kind).sort()).toEqual(['ClusterOIDCPolicy', 'Namespace']);
});

function clusterPolicy(name: string, secretNamespace: string, secretName: string): KubeObject {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ClusterOIDCPolicy',
    metadata: { name, resourceVersion: String(rv++), generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { issuer: 'https://issuer.example', clientID: 'c', clientSecretRef: { namespace: secretNamespace, name: secretName, key: 'k' }, defaultFor: { matchLabels: { sso: 'on' } } },
  };
}

const namespaceObject = (name: string, labels: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(rv++), labels } });

test("a Namespace's labels rebuild only while a ClusterOIDCPolicy exists, and only when they change", async () => {
  const { informers, snapshots, timers, informer } = setup();
  informer('Route').put(route('a', 'r'));
  for (const one of informers) one.sync();
  expect(snapshots).toHaveLength(1);

  informer('Namespace').put(namespaceObject('a', { sso: 'on' }));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(1);

  informer('ClusterOIDCPolicy').put(clusterPolicy('platform', 'platform', 'client'));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(2);
  expect(snapshots[1]!.snapshot.clusterPolicies.map((p) => p.metadata.name)).toEqual(['platform']);
  expect(snapshots[1]!.snapshot.namespaces.map((n) => [n.metadata.name, n.metadata.labels])).toEqual([['a', { sso: 'on' }]]);

  // A status write or an annotation changes no label: nothing to compile.
  informer('Namespace').put({ ...namespaceObject('a', { sso: 'on' }), metadata: { ...namespaceObject('a', { sso: 'on' }).metadata, annotations: { note: 'x' } } });
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(2);

  informer('Namespace').put(namespaceObject('a', { sso: 'off' }));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(3);
  expect(snapshots[2]!.changes).toEqual(['update Namespace /a']);
  expect(snapshots[2]!.snapshot.namespaces[0]!.metadata.labels).toEqual({ sso: 'off' });
});

test("a ClusterOIDCPolicy's Secrets are read in the namespace its references name", async () => {
  const { informers, snapshots, timers, informer, objectChanges } = setup();
  informer('ClusterOIDCPolicy').put(clusterPolicy('platform', 'platform', 'client'));
  informer('Secret').put(secret('platform', 'client'));
  informer('Secret').put(secret('elsewhere', 'client'));
  for (const one of informers) one.sync();
  expect(snapshots[0]!.snapshot.secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)).toEqual(['platform/client']);
  expect(objectChanges).toContain('ClusterOIDCPolicy /platform');

  informer('Secret').put(secret('elsewhere', 'client', 'other'));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(1);
  informer('Secret').put(secret('platform', 'client', 'rotated'));
  await timers.advance(1_000);
  expect(snapshots).toHaveLength(2);
});

test('an object the schema refuses is carried as rejected, with its generation', () => {
  const { informers, snapshots, informer } = setup();
  informer('Route').put({ ...route('a', 'bad'), metadata: meta('a', 'bad', { generation: 3 }), spec: { rules: [] } });
  for (const one of informers) one.sync();
  expect(snapshots[0]!.snapshot.rejected).toEqual([{ kind: 'Route', namespace: 'a', name: 'bad', generation: 3, issues: [expect.objectContaining({ field: 'spec.rules' })] }]);
});

test("a ClusterOIDCPolicy the schema refuses is carried with its defaultFor and age, so its namespaces fail closed", () => {
  const { informers, snapshots, informer } = setup();
  const refused = clusterPolicy('platform', 'platform', 'client');
  informer('ClusterOIDCPolicy').put({ ...refused, spec: { ...(refused.spec as object), issuer: 'not a url' } });
  for (const one of informers) one.sync();
  expect(snapshots[0]!.snapshot.clusterPolicies).toEqual([]);
  expect(snapshots[0]!.snapshot.rejected).toEqual([
    expect.objectContaining({ kind: 'ClusterOIDCPolicy', namespace: '', name: 'platform', defaultFor: { matchLabels: { sso: 'on' } }, creationTimestamp: '2026-01-01T00:00:00Z' }),
  ]);
});
