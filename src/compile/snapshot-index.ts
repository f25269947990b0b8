// Lookups over a snapshot by namespace and name, built once per compile.
import { SERVICE_NAME_LABEL, type ConfigMap, type EndpointSlice, type Secret, type Service } from '../api/core.ts';
import type { CompileOptions, Snapshot } from '../model/snapshot.ts';
import { scopeClusterPolicies, type ClusterPolicyScope } from './cluster-policies.ts';

/** Lookups over a snapshot by namespace and name. */
export interface SnapshotIndex {
  namespaceOf(meta: { namespace?: string | undefined }): string;
  secret(namespace: string, name: string): Secret | undefined;
  configMap(namespace: string, name: string): ConfigMap | undefined;
  service(namespace: string, name: string): Service | undefined;
  endpointSlices(namespace: string, service: string): readonly EndpointSlice[];
  /** Which ClusterOIDCPolicy defaults each namespace, and which namespaces may name each one. */
  readonly clusterPolicies: ClusterPolicyScope;
}

export function indexSnapshot(snapshot: Snapshot, options: CompileOptions): SnapshotIndex {
  const namespaceOf = (meta: { namespace?: string | undefined }) => meta.namespace ?? options.defaultNamespace;
  const byKey = <T extends { metadata: { name: string; namespace?: string | undefined } }>(items: readonly T[]) =>
    new Map(items.map((item) => [`${namespaceOf(item.metadata)}/${item.metadata.name}`, item]));
  const secrets = byKey(snapshot.secrets);
  const configMaps = byKey(snapshot.configMaps);
  const services = byKey(snapshot.services);
  const slices = new Map<string, EndpointSlice[]>();
  for (const slice of snapshot.endpointSlices) {
    const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (service === undefined) continue;
    const key = `${namespaceOf(slice.metadata)}/${service}`;
    slices.set(key, [...(slices.get(key) ?? []), slice]);
  }
  return {
    namespaceOf,
    secret: (namespace, name) => secrets.get(`${namespace}/${name}`),
    configMap: (namespace, name) => configMaps.get(`${namespace}/${name}`),
    service: (namespace, name) => services.get(`${namespace}/${name}`),
    endpointSlices: (namespace, service) => slices.get(`${namespace}/${service}`) ?? [],
    clusterPolicies: scopeClusterPolicies(snapshot.clusterPolicies, snapshot.rejected, snapshot.namespaces, [...new Set(snapshot.routes.map((route) => namespaceOf(route.metadata)))]),
  };
}
