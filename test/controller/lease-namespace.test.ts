// Where the leader-election Lease goes when nobody says: where deploy/rbac grants it, not
// `default`. (leader-election.test.ts runs the controller so, against a real API server.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { leaseNamespace, RBAC_LEASE_NAMESPACE } from '../../src/cli/controller.ts';
import { RBAC_DIR } from './support.ts';

test('the flag, else the kubeconfig context, else the pod, else the namespace deploy/rbac grants', () => {
  expect(leaseNamespace('mine', 'context', 'pod')).toEqual({ namespace: 'mine', defaulted: false });
  expect(leaseNamespace(undefined, 'context', 'pod')).toEqual({ namespace: 'context', defaulted: false });
  expect(leaseNamespace(undefined, null, 'pod')).toEqual({ namespace: 'pod', defaulted: false });
  expect(leaseNamespace(undefined, null, null)).toEqual({ namespace: RBAC_LEASE_NAMESPACE, defaulted: true });
});

test('that namespace is the one where deploy/rbac lets the controller create and renew its Lease', () => {
  const objects = parseAllDocuments(readFileSync(join(RBAC_DIR, '30-leader-election.yaml'), 'utf8')).map((doc) => doc.toJS() as { kind: string; metadata: { namespace?: string }; rules?: { resources: string[]; verbs: string[] }[] });
  const role = objects.find((o) => o.kind === 'Role' && o.rules?.some((rule) => rule.resources.includes('leases') && rule.verbs.includes('create')));
  const binding = objects.find((o) => o.kind === 'RoleBinding');
  expect(role?.metadata.namespace).toBe(RBAC_LEASE_NAMESPACE);
  expect(binding?.metadata.namespace).toBe(RBAC_LEASE_NAMESPACE);
});
