// The chart without a cluster: `helm lint`, `helm template` with the default values and every
// file in values/, what the rendered objects promise (security, probes, drain, spreading,
// ports that line up), RBAC identical to deploy/rbac/, CRDs identical to crds/, and values
// that the schema or the templates refuse with a message that names the key.
import { createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { parseManifest } from '../../src/api/manifest.ts';
import { leaseName } from '../../src/cli/controller.ts';
import { compile } from '../../src/compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/model/snapshot.ts';
import { parseManifestText, toSnapshot } from '../../src/sources/manifests.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { PLAIN_MANIFEST, renderPlainManifest } from './plain-manifests.ts';
import { BAD_VALUES_DIR, CHART_DIR, findObject, HELM_BUILD_TIMEOUT_MS, parseObjects, startHelm, VALUES_DIR, VALUES_FILES, type Helm, type K8sObject } from './helm.ts';

const RELEASE = 'portcullis';
const NAMESPACE = 'portcullis-system';

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; value?: string }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  lifecycle: { preStop: { sleep?: { seconds: number }; exec?: unknown } };
  securityContext: Record<string, unknown> & { capabilities: { drop: string[] } };
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  terminationGracePeriodSeconds: number;
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string; items: { key: string; path: string }[] } }[];
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
}
interface Deployment extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}
interface ServiceObject extends K8sObject {
  metadata: K8sObject['metadata'] & { labels: Record<string, string> };
  spec: { type: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string; nodePort?: number }[] };
}

let helm: Helm;
const rendered = new Map<string, K8sObject[]>();

async function render(valuesFile: string | null): Promise<K8sObject[]> {
  const args = ['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...(valuesFile === null ? [] : ['-f', join(VALUES_DIR, valuesFile)])];
  return parseObjects(await helm.must(args));
}

beforeAll(async () => {
  helm = await startHelm();
  for (const file of [null, ...VALUES_FILES]) rendered.set(file ?? 'defaults', await render(file));
}, HELM_BUILD_TIMEOUT_MS);

afterAll(() => helm?.close());

const objectsOf = (values: string) => rendered.get(values)!;
const deploymentOf = (values: string) => findObject(objectsOf(values), 'Deployment') as Deployment;
const containerOf = (values: string) => deploymentOf(values).spec.template.spec.containers[0]!;
/** `--flag=value` → value; a bare `--flag` → ''; absent → undefined. */
const flag = (container: Container, name: string) => {
  const arg = container.args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  return arg === undefined ? undefined : arg.slice(name.length + 3);
};
const flags = (container: Container, name: string) => container.args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const portOf = (listen: string | undefined) => Number(/:(\d+)$/.exec(listen ?? '')?.[1]);

function rbacFile(file: string, kind: string): Rule[] {
  const objects = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'rbac', file), 'utf8')).map((d) => d.toJS() as K8sObject & { rules?: Rule[] });
  return objects.find((o) => o.kind === kind)!.rules!;
}

describe('helm', () => {
  it('is the version pinned in test/cluster/helm/go.mod', () => {
    const pinned = /^require helm\.sh\/helm\/v3 (v\S+)$/m.exec(readFileSync(join(REPO_ROOT, 'test', 'cluster', 'helm', 'go.mod'), 'utf8'))?.[1];
    expect(helm.version).toBe(pinned);
  });

  it.each(['defaults', ...VALUES_FILES])('lints the chart with %s, strictly', async (values) => {
    const result = await helm.run(['lint', '--strict', CHART_DIR, ...(values === 'defaults' ? [] : ['-f', join(VALUES_DIR, values)])]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });
});

describe('the chart', () => {
  it('ships the CRDs of crds/, byte for byte', () => {
    const repo = readdirSync(join(REPO_ROOT, 'crds')).sort();
    expect(readdirSync(join(CHART_DIR, 'crds')).sort()).toEqual(repo);
    for (const file of repo) {
      expect({ file, text: readFileSync(join(CHART_DIR, 'crds', file), 'utf8') }).toEqual({ file, text: readFileSync(join(REPO_ROOT, 'crds', file), 'utf8') });
    }
  });

  it('grants exactly the rules of deploy/rbac/', () => {
    const objects = objectsOf('defaults');
    expect(findObject(objects, 'ClusterRole', 'portcullis').rules).toEqual(rbacFile('20-clusterrole.yaml', 'ClusterRole'));
    expect(findObject(objects, 'ClusterRole', 'portcullis-cluster-policies').rules).toEqual(rbacFile('25-cluster-policies.yaml', 'ClusterRole'));
    expect(findObject(objects, 'Role', 'portcullis-leader-election').rules).toEqual(rbacFile('30-leader-election.yaml', 'Role'));
    expect(findObject(objects, 'Role', 'portcullis-assertion-keys').rules).toEqual(rbacFile('40-assertion-keys.yaml', 'Role'));
    // And to the ServiceAccount the pods run as.
    const serviceAccount = findObject(objects, 'ServiceAccount').metadata.name;
    expect(deploymentOf('defaults').spec.template.spec.serviceAccountName).toBe(serviceAccount);
    for (const binding of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: serviceAccount, namespace: NAMESPACE }]);
    }
  });

  it('renders the default install: a controller Deployment, its Services, ServiceAccount, RBAC and disruption budget', () => {
    expect(objectsOf('defaults').map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ClusterRole/portcullis',
      'ClusterRole/portcullis-cluster-policies',
      'ClusterRoleBinding/portcullis',
      'ClusterRoleBinding/portcullis-cluster-policies',
      'Deployment/portcullis',
      'PodDisruptionBudget/portcullis',
      'Role/portcullis-assertion-keys',
      'Role/portcullis-leader-election',
      'RoleBinding/portcullis-assertion-keys',
      'RoleBinding/portcullis-leader-election',
      'Secret/portcullis-assertion-keys',
      'Service/portcullis',
      'Service/portcullis-metrics',
      'ServiceAccount/portcullis',
    ]);
    for (const object of objectsOf('defaults').filter((o) => !o.kind.startsWith('Cluster'))) expect(object.metadata.namespace).toBe(NAMESPACE);
  });

  it.each(['defaults', ...VALUES_FILES])('runs `portcullis controller` as a non-root user with a read-only root and no capabilities (%s)', (values) => {
    const pod = deploymentOf(values).spec.template.spec;
    const container = containerOf(values);
    expect(container.args[0]).toBe('controller');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it.each(['defaults', ...VALUES_FILES])('probes /healthz and /readyz on the ops listener, and the Services reach the listeners (%s)', (values) => {
    const container = containerOf(values);
    const ports = Object.fromEntries(container.ports.map((p) => [p.name, p.containerPort]));
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
    expect(ports.ops).toBe(portOf(flag(container, 'ops-listen')));
    expect(ports.http).toBe(portOf(flag(container, 'listen')));
    expect(ports.https).toBe(portOf(flag(container, 'listen-tls')));

    const selector = deploymentOf(values).spec.selector.matchLabels;
    expect(deploymentOf(values).spec.template.metadata.labels).toMatchObject(selector);
    const services = objectsOf(values).filter((o): o is ServiceObject => o.kind === 'Service');
    for (const service of services) {
      expect(service.spec.selector).toEqual(selector);
      for (const port of service.spec.ports) expect(Object.keys(ports)).toContain(port.targetPort);
    }
    const proxy = services.find((s) => s.spec.ports.some((p) => p.name === 'http'))!;
    expect(proxy.spec.ports.map((p) => [p.name, p.targetPort])).toEqual([['http', 'http'], ['https', 'https']]);
    // Redirects to HTTPS go to the port clients reach, the Service's.
    expect(Number(flag(container, 'https-redirect-port'))).toBe(proxy.spec.ports[1]!.port);
    const metrics = services.find((s) => s.spec.ports.some((p) => p.name === 'metrics'));
    if (metrics !== undefined) expect(metrics.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'metrics', targetPort: 'ops' }] });
  });

  it.each(['defaults', ...VALUES_FILES])('drains before it stops, without a shell, within the grace period (%s)', (values) => {
    const pod = deploymentOf(values).spec.template.spec;
    const preStop = containerOf(values).lifecycle.preStop;
    expect(preStop.exec).toBeUndefined();
    expect(preStop.sleep?.seconds).toBeGreaterThan(0);
    const seconds = (name: string) => Number(/^(\d+)s$/.exec(flag(containerOf(values), name) ?? '')?.[1]);
    expect(seconds('drain-delay')).toBeGreaterThanOrEqual(0);
    expect(seconds('shutdown-timeout')).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop.sleep!.seconds + seconds('drain-delay') + seconds('shutdown-timeout'));
  });

  it('spreads replicas over nodes and zones by the pod selector', () => {
    const deployment = deploymentOf('defaults');
    expect(deployment.spec.template.spec.topologySpreadConstraints!.map((c) => [c.topologyKey, c.labelSelector.matchLabels])).toEqual([
      ['kubernetes.io/hostname', deployment.spec.selector.matchLabels],
      ['topology.kubernetes.io/zone', deployment.spec.selector.matchLabels],
    ]);
  });

  it('makes the Secret of the assertion keys once, kept after uninstall, and lets the controller read that Secret alone', () => {
    const objects = objectsOf('defaults');
    const secret = findObject(objects, 'Secret', 'portcullis-assertion-keys') as K8sObject & { data: Record<string, string> };
    expect(secret.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(Object.keys(secret.data)).toEqual(['keys.pem']);
    const key = createPrivateKey(Buffer.from(secret.data['keys.pem']!, 'base64').toString('utf8'));
    expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toEqual(['ec', 'prime256v1']);
    expect(flag(containerOf('defaults'), 'assertion-key-secret')).toBe(`${NAMESPACE}/portcullis-assertion-keys`);
    expect(flag(containerOf('defaults'), 'assertion-issuer')).toBe('portcullis');
    expect(findObject(objects, 'Role', 'portcullis-assertion-keys').rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['portcullis-assertion-keys'], verbs: ['list', 'watch'] }]);
    expect(findObject(objects, 'RoleBinding', 'portcullis-assertion-keys').roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'portcullis-assertion-keys' });
    // A Secret of one's own: none made, its name passed on.
    expect(objectsOf('single.yaml').filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(flag(containerOf('single.yaml'), 'assertion-key-secret')).toBe(`${NAMESPACE}/gate-keys`);
    expect(flag(containerOf('single.yaml'), 'assertion-issuer')).toBe('https://gate.example.com');
  });

  it('pulls the image tagged with the appVersion by default', () => {
    const appVersion = (parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion;
    expect(containerOf('defaults').image).toBe(`ghcr.io/portcullis-dev/portcullis:${appVersion}`);
    expect(appVersion).toBe((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});

describe('deploy/controller.yaml', () => {
  it('is the chart rendered for a plain kubectl install beside deploy/rbac/ (UPDATE_DEPLOY=1 regenerates it)', async () => {
    const expected = await renderPlainManifest(helm);
    if (process.env.UPDATE_DEPLOY === '1') writeFileSync(PLAIN_MANIFEST, expected);
    expect(readFileSync(PLAIN_MANIFEST, 'utf8')).toBe(expected);
    const objects = parseObjects(expected);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Deployment/portcullis', 'PodDisruptionBudget/portcullis', 'Service/portcullis', 'Service/portcullis-metrics']);
    // The ServiceAccount that deploy/rbac/ creates and binds.
    const serviceAccount = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'rbac', '10-serviceaccount.yaml'), 'utf8'))
      .map((d) => d.toJS() as K8sObject)
      .find((o) => o.kind === 'ServiceAccount')!;
    const deployment = findObject(objects, 'Deployment') as Deployment;
    expect(deployment.metadata.namespace).toBe(serviceAccount.metadata.namespace);
    expect(deployment.spec.template.spec.serviceAccountName).toBe(serviceAccount.metadata.name);
    expect(expected).not.toMatch(/helm\.sh|managed-by/);
  });
});

describe('values files', () => {
  it('namespaced.yaml: its own class and Lease, RoleBindings in the watched namespaces only, an internal Service', () => {
    const objects = objectsOf('namespaced.yaml');
    const container = containerOf('namespaced.yaml');
    expect(flag(container, 'class')).toBe('internal');
    expect(flags(container, 'namespace')).toEqual(['team-a', 'team-b']);
    expect(flags(container, 'trust-proxy')).toEqual(['10.0.0.0/8']);
    expect(flags(container, 'allowed-backend-host')).toEqual(['httpbin.org']);
    // Cluster-wide, only the cluster-scoped kinds (ClusterOIDCPolicies, Namespaces).
    expect(objects.filter((o) => o.kind === 'ClusterRoleBinding').map((o) => (o.roleRef as { name: string }).name)).toEqual(['portcullis-cluster-policies']);
    const bindings = objects.filter((o) => o.kind === 'RoleBinding' && (o.roleRef as { kind: string }).kind === 'ClusterRole');
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(['team-a', 'team-b']);
    // The Lease the controller names for its class is the one its Role lets it update.
    expect((findObject(objects, 'Role', 'portcullis-leader-election').rules as Rule[])[1]!.resourceNames).toEqual([leaseName('internal')]);
    expect((findObject(objects, 'Service', 'portcullis') as ServiceObject).spec.type).toBe('ClusterIP');
    expect(deploymentOf('namespaced.yaml').spec.replicas).toBe(3);
  });

  it('production.yaml: autoscaled (no replicas field), a ServiceMonitor on the metrics Service, an image by digest, an extra CA', () => {
    const objects = objectsOf('production.yaml');
    const deployment = deploymentOf('production.yaml');
    const container = containerOf('production.yaml');
    expect(deployment.spec.replicas).toBeUndefined();
    expect(findObject(objects, 'HorizontalPodAutoscaler').spec).toMatchObject({ scaleTargetRef: { kind: 'Deployment', name: deployment.metadata.name }, minReplicas: 3, maxReplicas: 20 });
    const monitor = findObject(objects, 'ServiceMonitor') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
    const metrics = findObject(objects, 'Service', 'portcullis-metrics') as ServiceObject;
    expect(metrics.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(findObject(objects, 'Service', 'portcullis').metadata.labels).not.toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toMatchObject([{ port: 'metrics', path: '/metrics' }]);
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(container.image).toBe('123456789012.dkr.ecr.us-east-1.amazonaws.com/portcullis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    const caPath = container.env!.find((e) => e.name === 'NODE_EXTRA_CA_CERTS')!.value!;
    const mount = container.volumeMounts.find((m) => caPath.startsWith(`${m.mountPath}/`))!;
    const volume = deployment.spec.template.spec.volumes.find((v) => v.name === mount.name)!;
    expect(volume.secret).toEqual({ secretName: 'corporate-ca', items: [{ key: 'ca.pem', path: caPath.slice(mount.mountPath.length + 1) }] });
    expect(findObject(objects, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 2 });
    expect(findObject(objects, 'PodDisruptionBudget').spec).not.toHaveProperty('maxUnavailable');
    expect(container.args.at(-1)).toBe('--rebuild-max-holdoff=1s');
    // Not 2e+06: helm reads numbers as floats.
    expect(flag(container, 'signature-cache-size')).toBe('2000000');
  });

  it('forward-auth.yaml: the auth listener on its own port, reached by a ClusterIP Service apart from the proxy\'s', () => {
    const container = containerOf('forward-auth.yaml');
    expect(flag(container, 'auth-listen')).toBe(':8082=nginx');
    expect(flag(container, 'auth-default-allow')).toBeUndefined();
    expect(flags(container, 'trust-proxy')).toEqual(['10.244.0.0/16']);
    expect(container.ports).toContainEqual({ name: 'auth', containerPort: 8082, protocol: 'TCP' });
    const auth = findObject(objectsOf('forward-auth.yaml'), 'Service', 'portcullis-auth') as ServiceObject;
    expect(auth.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'auth', port: 80, targetPort: 'auth' }] });
    expect(auth.metadata.annotations).toEqual({ 'example.com/owner': 'platform' });
    // The proxy's Service (public) never leads to it; without the value there is neither port nor Service.
    expect((findObject(objectsOf('forward-auth.yaml'), 'Service', 'portcullis') as ServiceObject).spec.ports.map((p) => p.name)).toEqual(['http', 'https']);
    expect(flag(containerOf('defaults'), 'auth-listen')).toBeUndefined();
    expect(containerOf('defaults').ports.map((p) => p.name)).not.toContain('auth');
    expect(objectsOf('defaults').map((o) => o.metadata.name)).not.toContain('portcullis-auth');
  });

  it('single.yaml: no Lease, no RBAC or ServiceAccount of its own, no budget, no metrics Service, fixed node ports', () => {
    const objects = objectsOf('single.yaml');
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Deployment/gate', 'Service/gate']);
    expect(flag(containerOf('single.yaml'), 'no-leader-election')).toBe('');
    expect(deploymentOf('single.yaml').spec.template.spec.serviceAccountName).toBe('portcullis-external');
    expect((findObject(objects, 'Service') as ServiceObject).spec.ports.map((p) => p.nodePort)).toEqual([30080, 30443]);
  });
});

describe('clusterPolicy values', () => {
  it('cluster-policy.yaml: a ClusterOIDCPolicy with its Secrets in the release namespace, valid for the API and compiled to a default', () => {
    const policy = findObject(objectsOf('cluster-policy.yaml'), 'ClusterOIDCPolicy', 'cognito');
    const parsed = parseManifest(policy);
    expect(parsed).toMatchObject({ ok: true });
    const secrets = `apiVersion: v1
kind: Secret
metadata: {name: cognito-client, namespace: ${NAMESPACE}}
stringData: {client-secret: s3cr3t}
---
apiVersion: v1
kind: Secret
metadata: {name: cognito-session, namespace: ${NAMESPACE}}
stringData: {session-keys: ${'k'.repeat(40)}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {portcullis.dev/protect: cognito, team: shop}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: shop, namespace: shop}
spec:
  rules: [{backends: [{url: "http://shop.internal"}]}]
`;
    const loaded = parseManifestText(secrets, 'secrets.yaml');
    const snapshot = toSnapshot([...loaded.objects, parsed.ok ? parsed.object : []].flat(), loaded.problems, 'default');
    const { table, statuses } = compile(snapshot, { ...DEFAULT_COMPILE_OPTIONS, mode: 'controller' });
    expect(statuses.find((s) => s.kind === 'ClusterOIDCPolicy')).toMatchObject({ conditions: [{ type: 'Accepted', status: 'True' }, { type: 'ResolvedRefs', status: 'True' }], defaultNamespaces: 1 });
    expect(statuses.find((s) => s.kind === 'Route')?.rules).toEqual([{ policy: 'ClusterOIDCPolicy/cognito', source: 'NamespaceDefault' }]);
    expect(table.policies.get('ClusterOIDCPolicy/cognito')?.browser?.session.cookieName).toBe('_platform');
  });

  it('creates no ClusterOIDCPolicy by default', () => {
    expect(objectsOf('defaults').filter((o) => o.kind === 'ClusterOIDCPolicy')).toEqual([]);
  });
});

describe('values that the chart refuses', () => {
  const badFiles = readdirSync(BAD_VALUES_DIR).filter((f) => f.endsWith('.yaml')).sort();

  it.each(badFiles)('%s fails with the message it expects', async (file) => {
    const path = join(BAD_VALUES_DIR, file);
    const expected = /^# expect: (.*)$/m.exec(readFileSync(path, 'utf8'))?.[1];
    expect(expected).toBeDefined();
    const result = await helm.run(['template', RELEASE, CHART_DIR, '-f', path]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(expected);
  });
});
