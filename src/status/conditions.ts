// Conditions as the API stores them: ours computed by compile() and the auth runtime, with
// lastTransitionTime added here (kept when a condition's status did not change), and any
// condition type another controller set left alone.
import type { StatusCondition } from '../model/status.ts';

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

/** Whether writing `desired` would change nothing that a reader can see (lastTransitionTime aside). */
export function sameConditions(current: readonly StoredCondition[], desired: readonly StatusCondition[]): boolean {
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
  const foreign = current.filter((c) => !desired.some((want) => want.type === c.type));
  return [...ours, ...foreign];
}

export interface Transition {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly note: string;
}

/**
 * The Event a status write deserves, if any: Warning when a condition turns False (or stays
 * False for a new reason), naming each such condition; else Normal when one turns True again.
 * A new object whose conditions start True, a condition that was Unknown (a provider still being
 * fetched at start) turning True, and a message that merely changes, make none.
 */
export function transition(current: readonly StoredCondition[], desired: readonly StatusCondition[]): Transition | null {
  const failed: StatusCondition[] = [];
  const recovered: StatusCondition[] = [];
  for (const want of desired) {
    const have = current.find((c) => c.type === want.type);
    if (want.status === 'False' && (have?.status !== 'False' || have.reason !== want.reason)) failed.push(want);
    else if (want.status === 'True' && have?.status === 'False') recovered.push(want);
  }
  if (failed.length > 0) return { type: 'Warning', reason: failed[0]!.reason, note: failed.map((c) => `${c.type} is False: ${c.message}`).join(' ') };
  if (recovered.length > 0) return { type: 'Normal', reason: recovered[0]!.reason, note: recovered.map((c) => `${c.type} is True: ${c.message}`).join(' ') };
  return null;
}
