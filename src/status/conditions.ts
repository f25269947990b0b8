// Conditions as the API stores them: ours computed by compile() and the auth runtime, with
// lastTransitionTime added here (kept when a condition's status did not change), a type of ours
// that is no longer stated removed (Degraded, once the provider's keys are gone), and any
// condition type another controller set left alone.
import { conditionFailing, conditionHealthy, STATUS_CONDITION_TYPES, type StatusCondition } from '../model/status.ts';

export interface StoredCondition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
  readonly lastTransitionTime?: string;
}

/** metav1.Time: RFC 3339 in whole seconds. */
export function metaTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

const OURS: ReadonlySet<string> = new Set(STATUS_CONDITION_TYPES);

/** A condition of a type we set that `desired` no longer states: it goes. */
const stale = (desired: readonly StatusCondition[]) => (c: StoredCondition) => OURS.has(c.type) && !desired.some((want) => want.type === c.type);

/** Whether writing `desired` would change nothing that a reader can see (lastTransitionTime aside). */
export function sameConditions(current: readonly StoredCondition[], desired: readonly StatusCondition[]): boolean {
  if (current.some(stale(desired))) return false;
  return desired.every((want) => {
    const have = current.find((c) => c.type === want.type);
    return (
      have !== undefined &&
      have.status === want.status &&
      have.reason === want.reason &&
      have.message === want.message &&
      have.observedGeneration === want.observedGeneration
    );
  });
}

/** Ours in their order, then the types we do not own, as they were. */
export function mergeConditions(current: readonly StoredCondition[], desired: readonly StatusCondition[], now: number): StoredCondition[] {
  const ours = desired.map((want) => {
    const have = current.find((c) => c.type === want.type);
    const lastTransitionTime = have?.status === want.status && have.lastTransitionTime !== undefined ? have.lastTransitionTime : metaTime(now);
    return { ...want, lastTransitionTime };
  });
  const foreign = current.filter((c) => !OURS.has(c.type) && !desired.some((want) => want.type === c.type));
  return [...ours, ...foreign];
}

export interface Transition {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly note: string;
}

/**
 * The Event a status write deserves, if any: Warning when a condition turns to trouble (False;
 * for Degraded, True) or stays in trouble for a new reason, naming each such condition; else
 * Normal when one is well again. A new object whose conditions start well, a condition that was
 * Unknown (a provider still being fetched at start) turning well, and a message that merely
 * changes, make none.
 */
export function transition(current: readonly StoredCondition[], desired: readonly StatusCondition[]): Transition | null {
  const failed: StatusCondition[] = [];
  const recovered: StatusCondition[] = [];
  for (const want of desired) {
    const have = current.find((c) => c.type === want.type);
    const wasFailing = have !== undefined && conditionFailing(have);
    if (conditionFailing(want) && (!wasFailing || have.reason !== want.reason)) failed.push(want);
    else if (conditionHealthy(want) && wasFailing) recovered.push(want);
  }
  const says = (c: StatusCondition) => `${c.type} is ${c.status}: ${c.message}`;
  if (failed.length > 0) return { type: 'Warning', reason: failed[0]!.reason, note: failed.map(says).join(' ') };
  if (recovered.length > 0) return { type: 'Normal', reason: recovered[0]!.reason, note: recovered.map(says).join(' ') };
  return null;
}
