// Status is output data: compile() produces it, one writer publishes it.
import type { Provider } from './policy.ts';

export const CONDITION_REASONS = [
  // Accepted
  'Accepted',
  'Invalid',
  'Conflicted',
  'UnsupportedValue',
  'PublicNotAllowed',
  'InvalidRule',
  // ResolvedRefs
  'ResolvedRefs',
  'PolicyNotFound',
  'PolicyNotAccepted',
  'BackendNotFound',
  'SecretNotFound',
  'SecretKeyNotFound',
  'ConfigMapNotFound',
  'InvalidBackend',
  'InvalidSessionKey',
  'InvalidCertificate',
  'RefNotPermitted',
  // Programmed (False with the reason of what keeps a rule from serving, or one of these)
  'Programmed',
  'NoRules',
  'NoBackends',
  'PolicyNotReady',
  // Ready (set at run time)
  'Ready',
  'Pending',
  'DiscoveryFailed',
  'JWKSFailed',
  // Degraded (set at run time, once the provider's keys are held)
  'RefreshFailing',
  'RefreshSucceeded',
] as const;

export type ConditionReason = (typeof CONDITION_REASONS)[number];
/** The condition types compile() judges (Ready only as False, for a policy that did not compile). */
export type ConditionType = 'Accepted' | 'ResolvedRefs' | 'Programmed' | 'Ready';

/** Every condition type Portcullis sets, Degraded (from the auth runtime) included: one it no longer states is removed, never left stale. */
export const STATUS_CONDITION_TYPES = ['Accepted', 'ResolvedRefs', 'Programmed', 'Ready', 'Degraded'] as const satisfies readonly string[];
export type StatusConditionType = (typeof STATUS_CONDITION_TYPES)[number];

/**
 * Whether a condition reports trouble: `False` for the others, `True` for `Degraded`, whose True
 * is the bad news (the provider's keys still verify, refreshing them fails). Unknown is neither.
 */
export function conditionFailing(condition: { readonly type: string; readonly status: string }): boolean {
  return condition.status === (condition.type === 'Degraded' ? 'True' : 'False');
}

/** Whether a condition says all is well: `True`, or `False` for `Degraded`. */
export function conditionHealthy(condition: { readonly type: string; readonly status: string }): boolean {
  return condition.status === (condition.type === 'Degraded' ? 'False' : 'True');
}

export interface StatusCondition {
  readonly type: StatusConditionType;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: ConditionReason;
  /** A sentence naming the offending field, e.g. `spec.rules[0].policyRef: OIDCPolicy default/p does not exist.` */
  readonly message: string;
  readonly observedGeneration?: number;
}

/** The kinds that have a status of ours: what compile() judges and the status writer writes. */
export type StatusKind = 'Route' | 'OIDCPolicy' | 'ClusterOIDCPolicy';

export interface ObjectStatus {
  readonly kind: StatusKind;
  /** '' for a ClusterOIDCPolicy. */
  readonly namespace: string;
  readonly name: string;
  readonly generation: number | null;
  readonly conditions: readonly StatusCondition[];
  /** OIDCPolicy only: `status.provider` (the PROVIDER, KEYS and LAST FETCH columns). */
  readonly provider?: ProviderStatus;
  /** Route only: which policy protects each rule, in the order of spec.rules (`status.rules`). */
  readonly rules?: readonly RulePolicyStatus[];
  /** ClusterOIDCPolicy only: every namespace its defaultFor selects (`status.namespaces`), and how many it defaults. */
  readonly namespaces?: readonly NamespaceDefaultStatus[];
  readonly defaultNamespaces?: number;
}

/** `Kind namespace/name`, or `Kind name` for a cluster-scoped object: how logs and validate name it. */
export function describeObject(status: { readonly kind: string; readonly namespace: string; readonly name: string }): string {
  return `${status.kind} ${status.namespace === '' ? '' : `${status.namespace}/`}${status.name}`;
}

export interface RulePolicyStatus {
  /** `namespace/name` of an OIDCPolicy, `ClusterOIDCPolicy/name`, or `public`. */
  readonly policy: string;
  /** Where it comes from: the rule's policyRef, the Route's, the namespace's default, `public: true`, or nowhere. */
  readonly source: 'Rule' | 'Route' | 'NamespaceDefault' | 'Public' | 'None';
}

export interface NamespaceDefaultStatus {
  readonly name: string;
  readonly default: boolean;
  readonly reason?: 'Conflicted';
  readonly message?: string;
}

export interface ProviderStatus {
  /** The provider the spec resolves to (compile() says). */
  readonly type: Provider;
  // The rest, once the provider was reached, from the auth runtime.
  /** Signing keys held. */
  readonly keys?: number;
  /** RFC 3339: the last successful fetch of discovery and keys. */
  readonly lastFetchTime?: string;
  /** Why the last failed fetch failed, without secrets (kept after a recovery). */
  readonly lastError?: string;
  /** RFC 3339: when. */
  readonly lastErrorTime?: string;
}
