// What the Routes and OIDCPolicies of a snapshot refer to: a Secret, ConfigMap, Service or
// EndpointSlice that nothing refers to cannot change the table, so its changes trigger no
// rebuild (Contour's cache answers the same question on insert).
import { SERVICE_NAME_LABEL } from '../../api/core.ts';
import type { ClusterOIDCPolicy } from '../../api/clusteroidcpolicy.ts';
import type { OIDCPolicy } from '../../api/oidcpolicy.ts';
import type { Route } from '../../api/route.ts';
import type { KubeObject, WatchedKind } from '../../kubernetes/resources.ts';

export interface References {
  /** `namespace/name` keys. */
  readonly secrets: ReadonlySet<string>;
  readonly configMaps: ReadonlySet<string>;
  readonly services: ReadonlySet<string>;
}

export const NO_REFERENCES: References = { secrets: new Set(), configMaps: new Set(), services: new Set() };

export function collectReferences(routes: readonly Route[], policies: readonly OIDCPolicy[], clusterPolicies: readonly ClusterOIDCPolicy[] = []): References {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  const services = new Set<string>();
  for (const policy of policies) {
    const ns = policy.metadata.namespace ?? '';
    const spec = policy.spec;
    if (spec.clientSecretRef) secrets.add(`${ns}/${spec.clientSecretRef.name}`);
    if (spec.browser?.session?.secretRef) secrets.add(`${ns}/${spec.browser.session.secretRef.name}`);
    if (spec.browser?.session?.redis?.passwordSecretRef) secrets.add(`${ns}/${spec.browser.session.redis.passwordSecretRef.name}`);
    if (spec.caBundleRef) (spec.caBundleRef.kind === 'ConfigMap' ? configMaps : secrets).add(`${ns}/${spec.caBundleRef.name}`);
  }
  // A ClusterOIDCPolicy's references name their namespace.
  for (const policy of clusterPolicies) {
    const spec = policy.spec;
    const session = spec.browser?.session;
    for (const ref of [spec.clientSecretRef, session?.secretRef, session?.redis?.passwordSecretRef]) if (ref) secrets.add(`${ref.namespace}/${ref.name}`);
    if (spec.caBundleRef) (spec.caBundleRef.kind === 'ConfigMap' ? configMaps : secrets).add(`${spec.caBundleRef.namespace}/${spec.caBundleRef.name}`);
  }
  for (const route of routes) {
    const ns = route.metadata.namespace ?? '';
    if (route.spec.tls) secrets.add(`${ns}/${route.spec.tls.secretRef.name}`);
    for (const rule of route.spec.rules) {
      for (const backend of rule.backends ?? []) if (backend.service) services.add(`${ns}/${backend.service.name}`);
    }
  }
  return { secrets, configMaps, services };
}

/** Whether a change to this object of a referenced kind can change the table. */
export function isReferenced(references: References, kind: WatchedKind, object: KubeObject): boolean {
  const ns = object.metadata.namespace ?? '';
  switch (kind) {
    case 'Secret':
      return references.secrets.has(`${ns}/${object.metadata.name}`);
    case 'ConfigMap':
      return references.configMaps.has(`${ns}/${object.metadata.name}`);
    case 'Service':
      return references.services.has(`${ns}/${object.metadata.name}`);
    case 'EndpointSlice': {
      const service = object.metadata.labels?.[SERVICE_NAME_LABEL];
      return service !== undefined && references.services.has(`${ns}/${service}`);
    }
    default:
      return true;
  }
}
