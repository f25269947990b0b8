// The one back-off: waits that double from `baseMs` up to `maxMs` while failures go on, and
// start again from `baseMs` once something works.

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  /** How far each wait may stray, as a fraction: 0.2 gives ±20 %, so that replicas spread out. Default 0. */
  readonly jitter?: number;
  /** Default Math.random. */
  readonly random?: () => number;
}

export interface Backoff {
  /** The wait before the next attempt; each call doubles the next one, up to `maxMs`. */
  next(): number;
  /** Something worked: the next wait is `baseMs` again. */
  reset(): void;
}

export function createBackoff(options: BackoffOptions): Backoff {
  const jitter = options.jitter ?? 0;
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next() {
      const ms = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return Math.round(ms * (1 - jitter + 2 * jitter * random()));
    },
    reset() {
      attempt = 0;
    },
  };
}
