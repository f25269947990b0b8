// Controller mode's source: informers on Routes, OIDCPolicies, ClusterOIDCPolicies, Namespaces
// (their labels) and what the policies and Routes reference, one cache each, and a snapshot
// handed on for compiling —
// - never before every informer has listed once (a half-listed cluster would compile into a
//   table missing routes, and the statuses would say so);
// - then only when a change can matter: a Route, OIDCPolicy or ClusterOIDCPolicy of this class
//   whose spec changed, a Namespace's labels while any ClusterOIDCPolicy exists (they decide
//   which one protects its Routes), or a Secret, ConfigMap, Service or EndpointSlice that one of
//   them refers to;
// - debounced, so a burst of changes (a `kubectl apply` of many objects, a relist) compiles once.
import { LabelSelector, type ClusterOIDCPolicy } from '../../api/clusteroidcpolicy.ts';
import type { ConfigMap, EndpointSlice, Namespace, Secret, Service } from '../../api/core.ts';
import { parseManifest, type FieldIssue, type Manifest } from '../../api/manifest.ts';
import type { OIDCPolicy } from '../../api/oidcpolicy.ts';
import type { Route } from '../../api/route.ts';
import type { KubeClient } from '../../kubernetes/client.ts';
import { RESOURCES, type KubeObject, type WatchedKind } from '../../kubernetes/resources.ts';
import type { RejectedObject, Snapshot } from '../../model/snapshot.ts';
import type { StatusKind } from '../../model/status.ts';
import type { Logger } from '../../observability/logger.ts';
import { createDebouncer } from '../../time/debounce.ts';
import { SYSTEM_TIMERS, type Timers } from '../../time/timers.ts';
import { createInformer, type Informer, type InformerEvent, type InformerOptions } from './informer.ts';
import { collectReferences, isReferenced, NO_REFERENCES, type References } from './references.ts';

/** The class of a Route or OIDCPolicy that sets no `spec.className`. */
export const DEFAULT_CLASS = 'portcullis';

export interface KubernetesSourceOptions {
  readonly client: KubeClient;
  /** Watch only these namespaces; null: every namespace. */
  readonly namespaces: readonly string[] | null;
  /** Routes and OIDCPolicies whose `spec.className` (default `portcullis`) is this one. */
  readonly className: string;
  readonly logger: Logger;
  readonly timers?: Timers;
  /** Quiet time after a change before compiling; default 50 ms. */
  readonly holdoffMs?: number;
  /** Longest wait after the first change of a burst; default 500 ms. */
  readonly maxHoldoffMs?: number;
  /** A new snapshot: after the first complete list, then after relevant changes. */
  readonly onSnapshot: (snapshot: Snapshot, changes: readonly string[]) => void;
  /** A Route or OIDCPolicy of this class was added, changed (its status too) or deleted. */
  readonly onObjectChange?: (kind: StatusKind, namespace: string, name: string) => void;
  /** Test seam. */
  readonly createInformer?: (options: InformerOptions) => Informer;
}

export interface KubernetesSource {
  start(): void;
  /** Every informer has listed once. */
  synced(): boolean;
  /** A cached Route or OIDCPolicy, as last seen (its status and resourceVersion included). */
  get(kind: StatusKind, namespace: string, name: string): KubeObject | undefined;
  stop(): Promise<void>;
}

const KINDS: readonly WatchedKind[] = ['Route', 'OIDCPolicy', 'ClusterOIDCPolicy', 'Namespace', 'Secret', 'ConfigMap', 'Service', 'EndpointSlice'];
/** The kinds whose spec (of this class) is compiled: a change of spec or age rebuilds. */
const POLICY_AND_ROUTE_KINDS: ReadonlySet<WatchedKind> = new Set(['Route', 'OIDCPolicy', 'ClusterOIDCPolicy']);
const MAX_LOGGED_CHANGES = 10;

type Parsed = { readonly ok: true; readonly object: Manifest } | { readonly ok: false; readonly issues: readonly FieldIssue[] };

export function createKubernetesSource(options: KubernetesSourceOptions): KubernetesSource {
  const { logger, className } = options;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const makeInformer = options.createInformer ?? createInformer;
  const scopes = options.namespaces === null || options.namespaces.length === 0 ? [null] : [...new Set(options.namespaces)];

  /** Parsed objects by `kind/namespace/name`, reused while the resourceVersion stays. */
  const parsed = new Map<string, { resourceVersion: string | undefined; result: Parsed }>();
  /** The spec (and age) of each Route and (Cluster)OIDCPolicy of this class, to tell a spec change from a status write. */
  const fingerprints = new Map<string, string>();
  /** Each Namespace's labels, to tell a label change from any other. */
  const namespaceLabels = new Map<string, string>();
  let clusterPolicies = 0;
  let references: References = NO_REFERENCES;
  let changes: string[] = [];
  let started = false;
  let built = false;

  const informers = new Map<WatchedKind, Informer[]>();
  for (const kind of KINDS) {
    informers.set(
      kind,
      // A cluster-scoped kind has one informer, whichever namespaces are watched.
      (RESOURCES[kind].clusterScoped ? [null] : scopes).map((namespace) =>
        makeInformer({
          client: options.client,
          resource: RESOURCES[kind],
          namespace,
          logger,
          timers,
          onEvent: (event, object) => onEvent(kind, event, object),
          onSynced: () => {
            if (!built && allSynced()) build();
          },
        }),
      ),
    );
  }

  const debouncer = createDebouncer({ holdoffMs: options.holdoffMs ?? 50, maxHoldoffMs: options.maxHoldoffMs ?? 500, timers, run: build });

  function allSynced(): boolean {
    for (const list of informers.values()) if (!list.every((informer) => informer.synced())) return false;
    return true;
  }

  function isOurs(object: KubeObject): boolean {
    const spec = object.spec as { className?: unknown } | undefined;
    return (typeof spec?.className === 'string' && spec.className !== '' ? spec.className : DEFAULT_CLASS) === className;
  }

  function onEvent(kind: WatchedKind, event: InformerEvent, object: KubeObject): void {
    const namespace = object.metadata.namespace ?? '';
    const key = `${kind}/${namespace}/${object.metadata.name}`;
    if (event === 'delete') parsed.delete(key);
    let relevant: boolean;
    if (POLICY_AND_ROUTE_KINDS.has(kind)) {
      const before = fingerprints.get(key);
      const after = event !== 'delete' && isOurs(object) ? JSON.stringify([object.spec, object.metadata.creationTimestamp]) : undefined;
      if (after === undefined) fingerprints.delete(key);
      else fingerprints.set(key, after);
      if (kind === 'ClusterOIDCPolicy') clusterPolicies += (after !== undefined ? 1 : 0) - (before !== undefined ? 1 : 0);
      relevant = before !== after;
      if (before !== undefined || after !== undefined) options.onObjectChange?.(kind as StatusKind, namespace, object.metadata.name);
    } else if (kind === 'Namespace') {
      const before = namespaceLabels.get(object.metadata.name);
      const after = event === 'delete' ? undefined : JSON.stringify(object.metadata.labels ?? {});
      if (after === undefined) namespaceLabels.delete(object.metadata.name);
      else namespaceLabels.set(object.metadata.name, after);
      // Labels only matter to ClusterOIDCPolicies' selectors.
      relevant = before !== after && clusterPolicies > 0;
    } else {
      relevant = isReferenced(references, kind, object);
    }
    if (!relevant) return;
    if (changes.length < MAX_LOGGED_CHANGES) changes.push(`${event} ${kind} ${namespace}/${object.metadata.name}`);
    // Before the first build, the first build covers it.
    if (built) debouncer.trigger();
  }

  function parse(kind: WatchedKind, object: KubeObject): Parsed {
    const key = `${kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const cached = parsed.get(key);
    if (cached !== undefined && cached.resourceVersion === object.metadata.resourceVersion) return cached.result;
    // Status is output, not input: a schema change there must never refuse the object.
    const { status: _status, ...input } = object;
    const outcome = parseManifest(input);
    const result: Parsed = outcome.ok ? { ok: true, object: outcome.object } : { ok: false, issues: outcome.issues };
    parsed.set(key, { resourceVersion: object.metadata.resourceVersion, result });
    return result;
  }

  function objects(kind: WatchedKind): KubeObject[] {
    return informers.get(kind)!.flatMap((informer) => informer.list());
  }

  function build(): void {
    built = true;
    const rejected: RejectedObject[] = [];
    const accept = <T>(kind: 'Route' | 'OIDCPolicy' | 'ClusterOIDCPolicy'): T[] => {
      const out: T[] = [];
      for (const object of objects(kind)) {
        if (!isOurs(object)) continue;
        const result = parse(kind, object);
        if (result.ok) out.push(result.object as T);
        else rejected.push({ kind, namespace: object.metadata.namespace ?? '', name: object.metadata.name, generation: object.metadata.generation ?? null, issues: result.issues, ...salvagedDefault(kind, object) });
      }
      return out;
    };
    const routes = accept<Route>('Route');
    const policies = accept<OIDCPolicy>('OIDCPolicy');
    const clusterPolicyObjects = accept<ClusterOIDCPolicy>('ClusterOIDCPolicy');
    references = collectReferences(routes, policies, clusterPolicyObjects);
    const referenced = <T>(kind: WatchedKind): T[] => {
      const out: T[] = [];
      for (const object of objects(kind)) {
        if (!isReferenced(references, kind, object)) continue;
        const result = parse(kind, object);
        if (result.ok) out.push(result.object as T);
      }
      return out;
    };
    const snapshot: Snapshot = {
      routes,
      policies,
      secrets: referenced<Secret>('Secret'),
      configMaps: referenced<ConfigMap>('ConfigMap'),
      services: referenced<Service>('Service'),
      endpointSlices: referenced<EndpointSlice>('EndpointSlice'),
      clusterPolicies: clusterPolicyObjects,
      namespaces: clusterPolicyObjects.length === 0 ? [] : referenced<Namespace>('Namespace'),
      rejected,
    };
    const reported = changes;
    changes = [];
    options.onSnapshot(snapshot, reported);
  }

  /** Security: what a refused ClusterOIDCPolicy still says about the namespaces it defaults, so they fail closed. */
  function salvagedDefault(kind: string, object: KubeObject): Pick<RejectedObject, 'defaultFor' | 'creationTimestamp'> {
    if (kind !== 'ClusterOIDCPolicy') return {};
    const defaultFor = LabelSelector.safeParse((object.spec as { defaultFor?: unknown } | undefined)?.defaultFor);
    if (!defaultFor.success) return {};
    const created = object.metadata.creationTimestamp;
    return { defaultFor: defaultFor.data, ...(typeof created === 'string' ? { creationTimestamp: created } : {}) };
  }

  return {
    start() {
      if (started) return;
      started = true;
      logger.info({ namespaces: scopes.map((ns) => ns ?? '*'), class: className }, 'watching the API server');
      for (const list of informers.values()) for (const informer of list) informer.start();
    },
    synced: allSynced,
    get(kind, namespace, name) {
      for (const informer of informers.get(kind)!) {
        const object = informer.get(namespace, name);
        if (object !== undefined) return object;
      }
      return undefined;
    },
    async stop() {
      debouncer.cancel();
      await Promise.all([...informers.values()].flat().map((informer) => informer.stop()));
    },
  };
}
