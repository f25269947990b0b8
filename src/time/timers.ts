// Time as everything that waits or measures it sees it: the one clock of the process, passed in
// as `timers` wherever time is needed, so tests drive debounce, back-off, expiry and lease
// renewal with a fake clock instead of waiting.

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

/** Lets the process exit while this timer is pending (a system timer; a fake one has nothing to let go). */
export function unrefTimer(handle: TimerHandle): void {
  (handle as { unref?: () => void } | null)?.unref?.();
}
