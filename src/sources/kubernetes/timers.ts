// Time as the Kubernetes source, the status writer and the lease see it: injectable, so
// tests drive debounce, back-off and lease expiry with a fake clock instead of waiting.

/** Whatever the timers' setTimeout answers; only ever handed back to their clearTimeout. */
export type TimerHandle = unknown;

export interface Timers {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const SYSTEM_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on the given timers. */
export function delay(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms));
}

/** Exponential back-off between `baseMs` and `maxMs`, with ±20 % jitter so that replicas spread out. */
export function createBackoff(options: { baseMs: number; maxMs: number; random?: () => number }): { next(): number; reset(): void } {
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next() {
      const ms = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return Math.round(ms * (0.8 + 0.4 * random()));
    },
    reset() {
      attempt = 0;
    },
  };
}
