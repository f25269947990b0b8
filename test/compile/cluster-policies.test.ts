// ClusterOIDCPolicies over namespaces, beyond the golden cases: label selectors as Kubernetes
// reads them, the tie-break between two defaults created in the same second, and sessions
// bound to the cluster policy (never to a namespaced policy of the same name and settings).
import { ClusterOIDCPolicy } from '../../src/api/clusteroidcpolicy.ts';
import { deriveKeys, policyKeys, seal, unseal } from '../../src/auth/browser/seal.ts';
import { scopeClusterPolicies } from '../../src/compile/cluster-policies.ts';
import { compile } from '../../src/compile/compile.ts';
import { selects } from '../../src/compile/selectors.ts';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/model/snapshot.ts';
import { parseManifestText, toSnapshot } from '../../src/sources/manifests.ts';

describe('selects', () => {
  const labels = { team: 'a', tier: 'prod', 'example.com/sso': '' };

  it('selects nothing when absent and everything when empty', () => {
    expect(selects(undefined, labels)).toBe(false);
    expect(selects({}, labels)).toBe(true);
    expect(selects({}, {})).toBe(true);
  });

  it('needs every matchLabels pair and every requirement', () => {
    expect(selects({ matchLabels: { team: 'a', tier: 'prod' } }, labels)).toBe(true);
    expect(selects({ matchLabels: { team: 'a', tier: 'dev' } }, labels)).toBe(false);
    expect(selects({ matchLabels: { 'example.com/sso': '' } }, labels)).toBe(true);
    expect(selects({ matchLabels: { team: 'a' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['prod'] }] }, labels)).toBe(false);
  });

  it('reads In, NotIn, Exists and DoesNotExist as Kubernetes does (NotIn admits a missing label)', () => {
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['dev', 'prod'] }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'example.com/sso', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels)).toBe(false);
  });
});

function clusterPolicy(name: string, created: string | undefined, spec: Record<string, unknown>) {
  return ClusterOIDCPolicy.parse({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ClusterOIDCPolicy',
    metadata: { name, ...(created ? { creationTimestamp: created } : {}) },
    spec: { issuer: 'https://login.example.com', clientID: name, ...spec },
  });
}

const namespace = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1' as const, kind: 'Namespace' as const, metadata: { name, labels } });

describe('scopeClusterPolicies', () => {
  it('gives a namespace to the older default, then to the first by name when both were created in the same second', () => {
    const sameSecond = '2026-01-01T00:00:00Z';
    const scope = scopeClusterPolicies(
      [clusterPolicy('zeta', sameSecond, { defaultFor: {} }), clusterPolicy('alpha', sameSecond, { defaultFor: {} }), clusterPolicy('first', '2025-12-31T23:59:59Z', { defaultFor: { matchLabels: { a: 'b' } } })],
      [],
      [namespace('labelled', { a: 'b' }), namespace('plain', {})],
      [],
    );
    expect(scope.defaultOf('labelled')?.name).toBe('first');
    expect(scope.defaultOf('plain')?.name).toBe('alpha');
    expect(scope.namespacesOf('zeta').map((n) => [n.name, n.default, n.reason])).toEqual([
      ['labelled', false, 'Conflicted'],
      ['plain', false, 'Conflicted'],
    ]);
    expect(scope.namespacesOf('alpha')).toEqual([
      { name: 'labelled', default: false, reason: 'Conflicted', message: 'ClusterOIDCPolicy first is older and defaults this namespace too.' },
      { name: 'plain', default: true },
    ]);
  });

  it('ranks a policy without a creation time (standalone) after those with one', () => {
    const scope = scopeClusterPolicies([clusterPolicy('a-untimed', undefined, { defaultFor: {} }), clusterPolicy('b-timed', '2026-01-01T00:00:00Z', { defaultFor: {} })], [], [], ['apps']);
    expect(scope.defaultOf('apps')?.name).toBe('b-timed');
  });

  it('permits a reference from the namespaces the namespaceSelector selects, and from those it defaults', () => {
    const scope = scopeClusterPolicies(
      [clusterPolicy('p', undefined, { namespaceSelector: { matchLabels: { ok: 'yes' } }, defaultFor: { matchLabels: { sso: 'p' } } })],
      [],
      [namespace('selected', { ok: 'yes' }), namespace('defaulted', { sso: 'p' }), namespace('other', {})],
      ['unlabelled'],
    );
    expect(['selected', 'defaulted', 'other', 'unlabelled', 'unknown'].map((ns) => scope.permits('p', ns))).toEqual([true, true, false, false, false]);
    expect(scope.permits('missing', 'selected')).toBeUndefined();
  });
});

describe('a ClusterOIDCPolicy whose manifest was refused', () => {
  it('keeps the namespaces its defaultFor selects protected: their rules answer 503, public ones included, and it admits no reference', () => {
    const { objects, problems } = parseManifestText(
      `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {sso: "on"}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: app, namespace: shop}
spec:
  rules:
    - matches: [{path: {value: /app}}]
      backends: [{url: "http://app.internal"}]
    - matches: [{path: {value: /open}}]
      public: true
      backends: [{url: "http://app.internal"}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: borrow, namespace: other}
spec:
  policyRef: {kind: ClusterOIDCPolicy, name: platform}
  rules: [{backends: [{url: "http://other.internal"}]}]
`,
      'routes.yaml',
    );
    // As the Kubernetes source hands over a ClusterOIDCPolicy its schema refused (salvagedDefault).
    const refused = { kind: 'ClusterOIDCPolicy' as const, namespace: '', name: 'platform', generation: 3, issues: [{ field: 'spec.issuer', message: 'Required (a string).' }], defaultFor: { matchLabels: { sso: 'on' } } };
    const snapshot = toSnapshot(objects, problems, 'default');
    const { table, statuses } = compile({ ...snapshot, rejected: [...snapshot.rejected, refused] }, DEFAULT_COMPILE_OPTIONS);
    const answers = Object.fromEntries(table.rules.map((rule) => [rule.id, rule.action.kind === 'respond' ? rule.action.code : 'forward']));
    expect(answers).toEqual({
      'shop/app/rules[0]/matches[0]': 'POLICY_INVALID',
      'shop/app/rules[1]/matches[0]': 'PUBLIC_NOT_ALLOWED',
      'other/borrow/rules[0]/matches[0]': 'POLICY_NOT_PERMITTED',
    });
    expect(statuses.find((s) => s.name === 'app')?.rules).toEqual([
      { policy: 'ClusterOIDCPolicy/platform', source: 'NamespaceDefault' },
      { policy: 'public', source: 'Public' },
    ]);
    expect(statuses.find((s) => s.kind === 'ClusterOIDCPolicy')?.conditions[0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'Invalid' });
  });
});

describe('a ClusterOIDCPolicy session', () => {
  it('does not unseal on a namespaced OIDCPolicy of the same name, issuer, client and keys, nor the other way round', async () => {
    const key = 'k'.repeat(40);
    const text = `
apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: sso}
spec:
  issuer: https://login.example.com
  clientID: app
  browser: {session: {secretRef: {namespace: default, name: keys, key: k}}}
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: sso}
spec:
  issuer: https://login.example.com
  clientID: app
  browser: {session: {secretRef: {name: keys, key: k}}}
---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {k: ${key}}
`;
    const { objects, problems } = parseManifestText(text, 'sso.yaml');
    expect(problems).toEqual([]);
    const { table } = compile(toSnapshot(objects, problems, 'default'), DEFAULT_COMPILE_OPTIONS);
    const cluster = table.policies.get('ClusterOIDCPolicy/sso')!;
    const namespaced = table.policies.get('default/sso')!;
    expect(cluster.browser!.session.keys).toEqual(namespaced.browser!.session.keys);

    const sealed = await seal(Buffer.from('session'), policyKeys(cluster, 'session'));
    expect(Buffer.from((await unseal(sealed, policyKeys(cluster, 'session')))!).toString()).toBe('session');
    expect(await unseal(sealed, policyKeys(namespaced, 'session'))).toBeNull();
    expect(await unseal(await seal(Buffer.from('session'), policyKeys(namespaced, 'session')), policyKeys(cluster, 'session'))).toBeNull();
    // Bound by the key alone: the same settings under the other owner's key do not unseal.
    expect(await unseal(sealed, deriveKeys([key], 'session', { policy: 'default/sso', issuer: 'https://login.example.com', clientID: 'app' }))).toBeNull();
  });
});
