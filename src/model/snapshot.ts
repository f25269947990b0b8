// The contract between the sources and what consumes them: what a source hands over (a
// snapshot of validated objects and those refused; the problems of manifest files) and how
// compile() is told the mode it compiles for. The sources produce it, compile() reads the
// snapshot, status reports the problems; none of them imports another.
import type { ClusterOIDCPolicy, LabelSelector } from '../api/clusteroidcpolicy.ts';
import type { ConfigMap, EndpointSlice, Namespace, Secret, Service } from '../api/core.ts';
import type { FieldIssue } from '../api/manifest.ts';
import type { OIDCPolicy } from '../api/oidcpolicy.ts';
import type { Route } from '../api/route.ts';

/** An object whose manifest failed its schema: reported, never compiled. */
export interface RejectedObject {
  readonly kind: 'Route' | 'OIDCPolicy' | 'ClusterOIDCPolicy';
  /** '' for a ClusterOIDCPolicy. */
  readonly namespace: string;
  readonly name: string;
  readonly generation: number | null;
  readonly issues: readonly FieldIssue[];
  /**
   * A refused ClusterOIDCPolicy's `spec.defaultFor`, when that part still reads as a selector, and
   * its age: the namespaces it defaults stay protected (their rules answer 503) rather than turn
   * public because the platform's policy failed its schema.
   */
  readonly defaultFor?: LabelSelector;
  readonly creationTimestamp?: string;
}

/** A manifest file's problem, as a source of files found it: reported (standalone's log, validate), never compiled. */
export interface ManifestProblem {
  readonly file: string;
  /** 1-based line of the first issue (or of the document when an issue has no place of its own). */
  readonly line: number;
  readonly kind: string | undefined;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly issues: readonly LocatedIssue[];
}

/** An issue and where it is in its file (1-based): the offending key's own line and column. */
export interface LocatedIssue extends FieldIssue {
  readonly line?: number;
  readonly column?: number;
}

/** Everything compile() reads: validated objects, as the sources hold them now. */
export interface Snapshot {
  readonly routes: readonly Route[];
  readonly policies: readonly OIDCPolicy[];
  readonly secrets: readonly Secret[];
  readonly configMaps: readonly ConfigMap[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly clusterPolicies: readonly ClusterOIDCPolicy[];
  /** Namespaces, for their labels; a namespace without one here has no labels. */
  readonly namespaces: readonly Namespace[];
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

export const EMPTY_SNAPSHOT: Snapshot = { routes: [], policies: [], secrets: [], configMaps: [], services: [], endpointSlices: [], clusterPolicies: [], namespaces: [], rejected: [] };
