// ClusterOIDCPolicies over namespaces: which one defaults each namespace (defaultFor; the older
// wins, the others are Conflicted there), and which namespaces may name each one in a policyRef
// (namespaceSelector, or being its default). A namespace without a Namespace object has no
// labels (standalone manifests): only a selector `{}` or one of absent labels selects it.
import type { ClusterOIDCPolicy, LabelSelector } from '../api/clusteroidcpolicy.ts';
import type { Namespace } from '../api/core.ts';
import type { RejectedObject } from '../model/snapshot.ts';
import { clusterPolicyKey } from '../model/policy.ts';
import type { NamespaceDefaultStatus } from '../model/status.ts';
import { selects } from './selectors.ts';

/** The ClusterOIDCPolicy protecting a namespace's rules that name no policy. */
export interface NamespaceDefault {
  readonly name: string;
  /** clusterPolicyKey(name). */
  readonly key: string;
  readonly allowPublicRoutes: boolean;
}

export interface ClusterPolicyScope {
  /** The default of a namespace, or null. */
  defaultOf(namespace: string): NamespaceDefault | null;
  /** Whether a Route in `namespace` may name this ClusterOIDCPolicy; undefined when there is no such policy. */
  permits(name: string, namespace: string): boolean | undefined;
  /** Per ClusterOIDCPolicy: the namespaces its defaultFor selects, and whether it is the default there. */
  namespacesOf(name: string): readonly NamespaceDefaultStatus[];
}

/** What scoping reads of a ClusterOIDCPolicy (a refused one has a defaultFor at most). */
interface Scoped {
  readonly name: string;
  readonly createdAt: number;
  readonly namespaceSelector: LabelSelector | undefined;
  readonly defaultFor: LabelSelector | undefined;
  readonly allowPublicRoutes: boolean;
}

/**
 * `namespaces`: every namespace known (Namespace objects, and those of the Routes), sorted. The
 * policies are ranked oldest first (creation time, then name): the first that defaults a
 * namespace is its default, as the older Route keeps a contested host. A ClusterOIDCPolicy whose
 * manifest was refused still defaults the namespaces its defaultFor selects (fail closed: it is
 * broken there, so their rules answer 503), and admits no other reference nor any public rule.
 */
export function scopeClusterPolicies(
  valid: readonly ClusterOIDCPolicy[],
  refused: readonly RejectedObject[],
  namespaceObjects: readonly Namespace[],
  routeNamespaces: readonly string[],
): ClusterPolicyScope {
  const policies: Scoped[] = [
    ...valid.map((p) => ({ name: p.metadata.name, createdAt: createdAt(p.metadata.creationTimestamp), namespaceSelector: p.spec.namespaceSelector, defaultFor: p.spec.defaultFor, allowPublicRoutes: p.spec.allowPublicRoutes })),
    ...refused
      .filter((r) => r.kind === 'ClusterOIDCPolicy' && r.defaultFor !== undefined)
      .map((r) => ({ name: r.name, createdAt: createdAt(r.creationTimestamp), namespaceSelector: undefined, defaultFor: r.defaultFor, allowPublicRoutes: false })),
  ];
  const labels = new Map<string, Readonly<Record<string, string>>>();
  for (const namespace of namespaceObjects) labels.set(namespace.metadata.name, namespace.metadata.labels ?? {});
  for (const namespace of routeNamespaces) if (!labels.has(namespace)) labels.set(namespace, {});
  const names = [...labels.keys()].sort();
  const ranked = [...policies].sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const byName = new Map(ranked.map((policy) => [policy.name, policy]));

  const defaults = new Map<string, NamespaceDefault>();
  const statuses = new Map<string, NamespaceDefaultStatus[]>(ranked.map((policy) => [policy.name, []]));
  for (const namespace of names) {
    const nsLabels = labels.get(namespace)!;
    for (const policy of ranked) {
      if (!selects(policy.defaultFor, nsLabels)) continue;
      const name = policy.name;
      const winner = defaults.get(namespace);
      if (winner === undefined) {
        defaults.set(namespace, { name, key: clusterPolicyKey(name), allowPublicRoutes: policy.allowPublicRoutes });
        statuses.get(name)!.push({ name: namespace, default: true });
      } else {
        statuses.get(name)!.push({ name: namespace, default: false, reason: 'Conflicted', message: `ClusterOIDCPolicy ${winner.name} is older and defaults this namespace too.` });
      }
    }
  }

  return {
    defaultOf: (namespace) => defaults.get(namespace) ?? null,
    permits(name, namespace) {
      const policy = byName.get(name);
      if (policy === undefined) return undefined;
      const nsLabels = labels.get(namespace) ?? {};
      return selects(policy.namespaceSelector, nsLabels) || defaults.get(namespace)?.name === name;
    },
    namespacesOf: (name) => statuses.get(name) ?? [],
  };
}

/** Milliseconds since the epoch; an object without a time (standalone) ranks after those with one. */
function createdAt(value: string | Date | undefined): number {
  if (value === undefined) return Number.MAX_SAFE_INTEGER;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
}
