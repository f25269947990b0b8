// How many requests may hold a connection to one origin at once, and how many may wait for
// one, for how long. undici's pool would queue without bound and without a deadline: one slow
// upstream, or clients that hold its connections, would then stall every request to it for as
// long as they like. Here a request beyond the limit waits in arrival order, and is refused
// (UPSTREAM_BUSY) when the queue is full or its wait runs out.

export interface OriginQueueLimits {
  /** Requests holding a connection at once (the pool's size). */
  readonly connections: number;
  /** Requests waiting for a connection at once; beyond that, refused at once. */
  readonly queueSize: number;
  /** The longest wait for a connection. */
  readonly queueTimeoutMs: number;
}

/** A request that asks for a connection. */
export interface QueueWaiter {
  /** A connection is the waiter's now (called at once, or later in arrival order). */
  admit(): void;
  /** No connection: the queue was full, or the wait ran out. */
  refuse(reason: 'full' | 'timeout'): void;
}

export class OriginQueue {
  readonly #limits: OriginQueueLimits;
  #active = 0;
  /** Insertion-ordered: the first is the one waiting longest. */
  readonly #waiting = new Map<QueueWaiter, ReturnType<typeof setTimeout>>();

  constructor(limits: OriginQueueLimits) {
    this.#limits = limits;
  }

  /** True when nobody holds a connection or waits for one. */
  get idle(): boolean {
    return this.#active === 0 && this.#waiting.size === 0;
  }

  /** Requests holding a connection now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a connection now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Asks for a connection: `admit` or `refuse` is called once, maybe before this returns. */
  enter(waiter: QueueWaiter): void {
    if (this.#active < this.#limits.connections && this.#waiting.size === 0) {
      this.#active += 1;
      waiter.admit();
    } else if (this.#waiting.size >= this.#limits.queueSize) {
      waiter.refuse('full');
    } else {
      const timer = setTimeout(() => {
        this.#waiting.delete(waiter);
        waiter.refuse('timeout');
      }, this.#limits.queueTimeoutMs);
      this.#waiting.set(waiter, timer);
    }
  }

  /**
   * The waiter is done: it gives its connection back (`admitted`), or its place in the queue.
   * Call it once per enter(), whatever happened.
   */
  leave(waiter: QueueWaiter, admitted: boolean): void {
    if (admitted) {
      this.#active -= 1;
      this.#admitNext();
      return;
    }
    const timer = this.#waiting.get(waiter);
    if (timer === undefined) return; // refused: it held nothing
    clearTimeout(timer);
    this.#waiting.delete(waiter);
  }

  #admitNext(): void {
    while (this.#active < this.#limits.connections && this.#waiting.size > 0) {
      const [waiter, timer] = this.#waiting.entries().next().value as [QueueWaiter, ReturnType<typeof setTimeout>];
      clearTimeout(timer);
      this.#waiting.delete(waiter);
      this.#active += 1;
      waiter.admit();
    }
  }
}
