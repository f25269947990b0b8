// Kubernetes label selectors over namespaces' labels (ClusterOIDCPolicy's namespaceSelector and defaultFor).
import type { LabelSelector } from '../api/clusteroidcpolicy.ts';

/**
 * Whether `selector` selects an object with these labels: absent selects nothing, `{}`
 * everything; otherwise every matchLabels pair and every requirement must hold.
 */
export function selects(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const requirement of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, requirement.key);
    const value = labels[requirement.key];
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
