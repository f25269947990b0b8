import type { ConditionReason, ConditionType, ObjectStatus, StatusCondition } from '../model/status.ts';

/** A problem found while compiling one object, tied to the spec field that causes it. */
export interface Finding {
  readonly condition: ConditionType;
  readonly reason: ConditionReason;
  /** `spec.rules[0].policyRef`. */
  readonly field: string;
  /** A sentence: capital first, full stop last. */
  readonly message: string;
}

export function finding(condition: ConditionType, reason: ConditionReason, field: string, message: string): Finding {
  return { condition, reason, field, message };
}

const TRUE_REASON: Record<ConditionType, ConditionReason> = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Programmed: 'Programmed',
  Ready: 'Ready',
};

const TRUE_MESSAGE: Record<ConditionType, string> = {
  Accepted: 'The object is valid.',
  ResolvedRefs: 'Every reference is resolved.',
  Programmed: 'Programmed into the routing table.',
  Ready: 'Ready.',
};

/** One condition of `type`: True, or False with the first finding's reason and every finding's message. */
export function condition(type: ConditionType, findings: readonly Finding[], generation: number | null): StatusCondition {
  const mine = findings.filter((f) => f.condition === type);
  const base = generation === null ? {} : { observedGeneration: generation };
  if (mine.length === 0) return { type, status: 'True', reason: TRUE_REASON[type], message: TRUE_MESSAGE[type], ...base };
  return { type, status: 'False', reason: mine[0]!.reason, message: mine.map((f) => `${f.field}: ${f.message}`).join(' '), ...base };
}

export function objectStatus(
  kind: ObjectStatus['kind'],
  namespace: string,
  name: string,
  generation: number | null,
  types: readonly ConditionType[],
  findings: readonly Finding[],
): ObjectStatus {
  return { kind, namespace, name, generation, conditions: types.map((type) => condition(type, findings, generation)) };
}
