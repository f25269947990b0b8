// Writes crds/clusteroidcpolicies.yaml (and the chart's copy) from crds/oidcpolicies.yaml:
//
//   node scripts/cluster-policy-crd.ts
//
// A ClusterOIDCPolicy's spec is an OIDCPolicy's, with a namespace on every Secret and ConfigMap
// reference, plus namespaceSelector, defaultFor and allowPublicRoutes; its status adds the
// namespaces it defaults. Deriving it keeps the two in step when OIDCPolicy gains a field:
// test/api/corpus.test.ts fails when the file and this script disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument, type Document } from 'yaml';

const ROOT = new URL('../', import.meta.url);

/** The CRD text of ClusterOIDCPolicy, derived from the text of OIDCPolicy's. */
export function clusterPolicyCrd(oidcPolicyCrd: string): string {
  // OIDCPolicy's own header comment goes; ours replaces it.
  const doc = parseDocument(oidcPolicyCrd.replace(/^(#.*\n)+/, ''));
  doc.commentBefore =
    ' ClusterOIDCPolicy: an OIDCPolicy owned by the platform team, for the namespaces it selects.\n' +
    ' Generated from oidcpolicies.yaml by scripts/cluster-policy-crd.ts (do not edit); mirrors\n' +
    ' src/api/clusteroidcpolicy.ts, and test/api/corpus.test.ts fails when they drift apart.';
  doc.setIn(['metadata', 'name'], 'clusteroidcpolicies.portcullis.dev');
  doc.setIn(['spec', 'scope'], 'Cluster');
  doc.setIn(['spec', 'names'], doc.createNode({ kind: 'ClusterOIDCPolicy', listKind: 'ClusterOIDCPolicyList', plural: 'clusteroidcpolicies', singular: 'clusteroidcpolicy', shortNames: ['coidc'], categories: ['portcullis'] }, { flow: false }));
  for (const list of ['shortNames', 'categories']) (doc.getIn(['spec', 'names', list]) as { flow: boolean }).flow = true;
  const version = ['spec', 'versions', 0];
  doc.setIn([...version, 'additionalPrinterColumns'], doc.createNode(PRINTER_COLUMNS));
  const root = [...version, 'schema', 'openAPIV3Schema'];
  doc.setIn([...root, 'description'], DESCRIPTION);
  doc.setIn([...root, 'properties', 'kind', 'description'], 'The kind of this object, ClusterOIDCPolicy.');
  const spec = [...root, 'properties', 'spec', 'properties'];
  for (const ref of [['clientSecretRef'], ['caBundleRef'], ['browser', 'session', 'secretRef'], ['browser', 'session', 'redis', 'passwordSecretRef']]) {
    const at = [...spec, ...ref.flatMap((field, i) => (i === 0 ? [field] : ['properties', field]))];
    if (!doc.hasIn(at)) throw new Error(`oidcpolicies.yaml has no spec.${ref.join('.')}.`);
    addNamespace(doc, at);
  }
  doc.setIn([...spec, 'namespaceSelector'], doc.createNode(labelSelector('The namespaces whose Routes may name this policy in a policyRef (kind ClusterOIDCPolicy). Absent selects none, {} every namespace.')));
  doc.setIn(
    [...spec, 'defaultFor'],
    doc.createNode(labelSelector('The namespaces whose Routes this policy protects when a rule names no policy (neither its own policyRef nor the Route\'s). Absent selects none, {} every namespace. Two policies defaulting one namespace: the older wins.')),
  );
  doc.setIn(
    [...spec, 'allowPublicRoutes'],
    doc.createNode({ type: 'boolean', default: false, description: 'Whether a rule marked public: true is allowed in the namespaces this policy defaults. false refuses it (Accepted False, PublicNotAllowed) and the rule answers 503. Default false.' }),
  );
  const status = [...root, 'properties', 'status', 'properties'];
  doc.setIn([...status, 'namespaces'], doc.createNode(NAMESPACES_STATUS));
  doc.setIn([...status, 'defaultNamespaces'], doc.createNode({ type: 'integer', format: 'int32', minimum: 0, description: 'How many namespaces this policy is the default for.' }));
  return doc.toString({ lineWidth: 100, flowCollectionPadding: false });
}

function addNamespace(doc: Document, at: (string | number)[]): void {
  const name = [...at, 'properties', 'name', 'description'];
  doc.setIn(name, String(doc.getIn(name)).replace(', in this namespace.', ', in that namespace.'));
  doc.setIn([...at, 'properties', 'namespace'], doc.createNode({ type: 'string', minLength: 1, maxLength: 253, pattern: OBJECT_NAME, description: 'The namespace of the object referred to.' }));
  const required = (doc.getIn([...at, 'required']) as { toJSON(): string[] } | undefined)?.toJSON() ?? [];
  const node = doc.createNode(['namespace', ...required]);
  node.flow = true;
  doc.setIn([...at, 'required'], node);
}

const OBJECT_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const LABEL_KEY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const LABEL_VALUE = '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$';

const DESCRIPTION =
  'ClusterOIDCPolicy is an OIDCPolicy owned by the platform team: cluster-scoped, its Secrets in a namespace of its choice, referred to by Routes of the namespaces its namespaceSelector selects (policyRef kind ClusterOIDCPolicy), and protecting by default every rule that names no policy in the namespaces defaultFor selects.';

const PRINTER_COLUMNS = [
  { name: 'Issuer', type: 'string', jsonPath: '.spec.issuer' },
  { name: 'Provider', type: 'string', jsonPath: '.status.provider.type' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Namespaces', type: 'integer', description: 'How many namespaces it is the default for.', jsonPath: '.status.defaultNamespaces' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Client', type: 'string', priority: 1, jsonPath: '.spec.clientID' },
  { name: 'Conflicted', type: 'string', priority: 1, description: 'Namespaces another policy defaults instead.', jsonPath: '.status.namespaces[?(@.reason=="Conflicted")].name' },
  { name: 'Degraded', type: 'string', priority: 1, jsonPath: '.status.conditions[?(@.type=="Degraded")].status' },
];

function labelSelector(description: string) {
  return {
    type: 'object',
    description,
    properties: {
      matchLabels: {
        type: 'object',
        maxProperties: 64,
        description: 'Labels a namespace must carry, each with this value.',
        additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE },
      },
      matchExpressions: {
        type: 'array',
        maxItems: 16,
        description: 'Requirements a namespace\'s labels must all meet.',
        items: {
          type: 'object',
          required: ['key', 'operator'],
          'x-kubernetes-validations': [
            {
              rule: "(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)",
              fieldPath: '.values',
              message: 'In and NotIn need values; Exists and DoesNotExist take none.',
            },
          ],
          properties: {
            key: { type: 'string', minLength: 1, maxLength: 317, pattern: LABEL_KEY, description: 'The label key.' },
            operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'], description: 'In, NotIn, Exists or DoesNotExist.' },
            values: { type: 'array', maxItems: 64, description: 'The values for In and NotIn.', items: { type: 'string', maxLength: 63, pattern: LABEL_VALUE } },
          },
        },
      },
    },
  };
}

const NAMESPACES_STATUS = {
  type: 'array',
  description: 'Every namespace defaultFor selects, and whether this policy is the default there.',
  items: {
    type: 'object',
    required: ['name', 'default'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 253, pattern: OBJECT_NAME, description: 'The namespace.' },
      default: { type: 'boolean', description: 'Whether this policy protects the namespace\'s Routes by default.' },
      reason: { type: 'string', enum: ['Conflicted'], description: 'Why not: Conflicted, an older ClusterOIDCPolicy defaults the namespace.' },
      message: { type: 'string', maxLength: 1024, description: 'Which policy is the default instead.' },
    },
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = clusterPolicyCrd(readFileSync(new URL('crds/oidcpolicies.yaml', ROOT), 'utf8'));
  for (const file of ['crds/clusteroidcpolicies.yaml', 'charts/portcullis/crds/clusteroidcpolicies.yaml']) writeFileSync(new URL(file, ROOT), text);
}
