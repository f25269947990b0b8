import type { ConfigMap, EndpointSlice, Secret, Service } from '../api/core.ts';
import { SERVICE_NAME_LABEL } from '../api/core.ts';
import type { FieldIssue } from '../api/manifest.ts';
import type { OIDCPolicy } from '../api/oidcpolicy.ts';
import type { Route } from '../api/route.ts';

/** An object whose manifest failed its schema: reported, never compiled. */
export interface RejectedObject {
  readonly kind: 'Route' | 'OIDCPolicy';
  readonly namespace: string;
  readonly name: string;
  readonly generation: number | null;
  readonly issues: readonly FieldIssue[];
}

/** Everything compile() reads: validated objects, as the sources hold them now. */
export interface Snapshot {
  readonly routes: readonly Route[];
  readonly policies: readonly OIDCPolicy[];
  readonly secrets: readonly Secret[];
  readonly configMaps: readonly ConfigMap[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly rejected: readonly RejectedObject[];
}

export interface CompileOptions {
  readonly mode: 'standalone' | 'controller';
  /** The namespace of objects that name none (standalone manifests). */
  readonly defaultNamespace: string;
  /** Standalone only: the key a policy without `browser.session.secretRef` uses. */
  readonly generatedSessionKey: string | null;
  /** Controller mode: allow `url` backends on loopback and link-local addresses. */
  readonly allowLocalBackends: boolean;
  /** When set, `url` backends must name one of these hosts. */
  readonly allowedBackendHosts: readonly string[] | null;
}

export const DEFAULT_COMPILE_OPTIONS: CompileOptions = {
  mode: 'standalone',
  defaultNamespace: 'default',
  generatedSessionKey: null,
  allowLocalBackends: false,
  allowedBackendHosts: null,
};

export const EMPTY_SNAPSHOT: Snapshot = { routes: [], policies: [], secrets: [], configMaps: [], services: [], endpointSlices: [], rejected: [] };

/** Lookups over a snapshot by namespace and name. */
export interface SnapshotIndex {
  namespaceOf(meta: { namespace?: string | undefined }): string;
  secret(namespace: string, name: string): Secret | undefined;
  configMap(namespace: string, name: string): ConfigMap | undefined;
  service(namespace: string, name: string): Service | undefined;
  endpointSlices(namespace: string, service: string): readonly EndpointSlice[];
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
  };
}
