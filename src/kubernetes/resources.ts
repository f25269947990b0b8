// The kinds the controller watches, and where the API server serves them.
import { GROUP, VERSION } from '../api/common.ts';

export type WatchedKind = 'Route' | 'OIDCPolicy' | 'ClusterOIDCPolicy' | 'Namespace' | 'Secret' | 'ConfigMap' | 'Service' | 'EndpointSlice';

export interface WatchedResource {
  readonly kind: WatchedKind;
  /** `''` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  /** Cluster-scoped kinds (ClusterOIDCPolicy, Namespace) have no namespace in their paths. */
  readonly clusterScoped?: boolean;
}

export const RESOURCES: Readonly<Record<WatchedKind, WatchedResource>> = {
  Route: { kind: 'Route', group: GROUP, version: VERSION, plural: 'routes' },
  OIDCPolicy: { kind: 'OIDCPolicy', group: GROUP, version: VERSION, plural: 'oidcpolicies' },
  ClusterOIDCPolicy: { kind: 'ClusterOIDCPolicy', group: GROUP, version: VERSION, plural: 'clusteroidcpolicies', clusterScoped: true },
  Namespace: { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', clusterScoped: true },
  Secret: { kind: 'Secret', group: '', version: 'v1', plural: 'secrets' },
  ConfigMap: { kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps' },
  Service: { kind: 'Service', group: '', version: 'v1', plural: 'services' },
  EndpointSlice: { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices' },
};

export function apiVersionOf(resource: WatchedResource): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

/** The collection: every namespace when `namespace` is null (and always, for a cluster-scoped kind). */
export function collectionPath(resource: { group: string; version: string; plural: string; clusterScoped?: boolean }, namespace: string | null): string {
  const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  return namespace === null || resource.clusterScoped === true ? `${base}/${resource.plural}` : `${base}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`;
}

export function objectPath(resource: { group: string; version: string; plural: string; clusterScoped?: boolean }, namespace: string, name: string, subresource?: string): string {
  return `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}${subresource === undefined ? '' : `/${subresource}`}`;
}

/** An object as the API server sends it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: unknown;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the caches keep of an object: `kind` and `apiVersion` filled in (list items of core
 * kinds come without them), managedFields and kubectl's last-applied annotation dropped —
 * large, never read, and for a Secret the annotation repeats its data in clear.
 */
export function trimObject<T extends KubeObject>(object: T, resource: WatchedResource): T {
  const { managedFields: _managedFields, annotations, ...metadata } = object.metadata;
  let kept = annotations;
  if (annotations !== undefined && LAST_APPLIED in annotations) {
    const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
    kept = rest;
  }
  return {
    ...object,
    apiVersion: object.apiVersion ?? apiVersionOf(resource),
    kind: object.kind ?? resource.kind,
    metadata: kept === undefined || Object.keys(kept).length === 0 ? metadata : { ...metadata, annotations: kept },
  };
}
