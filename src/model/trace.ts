// A decision, step by step, for `portcullis explain`: the guard's functions take an optional
// collector and record each check they make and its value. The proxy passes none (a request
// pays nothing for it); explain passes one, so it shows what the very same functions decided.

export type TraceResult = 'pass' | 'fail' | 'error' | 'not-checked';

export interface TraceStep {
  /** What was checked: `scopes`, `groups`, `claim custom:tenant`, `rule admins-only`, `signature`, … */
  readonly check: string;
  readonly result: TraceResult;
  /** The value found or why, in a sentence; never a token or a secret. */
  readonly detail: string;
}

export interface DecisionTrace {
  record(step: TraceStep): void;
}
