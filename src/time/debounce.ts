// Contour's hold-off: a burst of changes is handled once (compiled once by the Kubernetes
// source, read once by standalone's file watcher). Each change pushes the run back by
// `holdoffMs`, but never more than `maxHoldoffMs` after the first change of the burst, so a
// steady trickle of changes cannot postpone it for ever.
import type { TimerHandle, Timers } from './timers.ts';

export interface Debouncer {
  trigger(): void;
  /** Drops a pending run. */
  cancel(): void;
}

export function createDebouncer(options: { holdoffMs: number; maxHoldoffMs: number; timers: Timers; run: () => void }): Debouncer {
  const { timers } = options;
  let firstAt: number | null = null;
  let timer: TimerHandle | null = null;

  const fire = () => {
    timer = null;
    firstAt = null;
    options.run();
  };

  return {
    trigger() {
      const now = timers.now();
      firstAt ??= now;
      const at = Math.min(now + options.holdoffMs, firstAt + options.maxHoldoffMs);
      if (timer !== null) timers.clearTimeout(timer);
      timer = timers.setTimeout(fire, Math.max(0, at - now));
    },
    cancel() {
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      firstAt = null;
    },
  };
}
