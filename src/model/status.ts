// Status is output data: compile() produces it, one writer publishes it.
import type { Provider } from './policy.ts';

export const CONDITION_REASONS = [
  // Accepted
  'Accepted',
  'Invalid',
  'Conflicted',
  'UnsupportedValue',
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
] as const;

export type ConditionReason = (typeof CONDITION_REASONS)[number];
export type ConditionType = 'Accepted' | 'ResolvedRefs' | 'Programmed' | 'Ready';

export interface StatusCondition {
  readonly type: ConditionType;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: ConditionReason;
  /** A sentence naming the offending field, e.g. `spec.rules[0].policyRef: OIDCPolicy default/p does not exist.` */
  readonly message: string;
  readonly observedGeneration?: number;
}

/** The kinds that have a status of ours: what compile() judges and the status writer writes. */
export type StatusKind = 'Route' | 'OIDCPolicy';

export interface ObjectStatus {
  readonly kind: StatusKind;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number | null;
  readonly conditions: readonly StatusCondition[];
  /** OIDCPolicy only: the provider its spec resolves to (`status.provider`, the PROVIDER column). */
  readonly provider?: { readonly type: Provider };
}
