import { OriginQueue, type QueueWaiter } from '../../src/proxy/forward/origin-queue.ts';

/** A waiter that records what happened to it, in one shared log. */
function waiter(name: string, log: string[]): QueueWaiter {
  return {
    admit: () => log.push(`${name} admitted`),
    refuse: (reason) => log.push(`${name} refused: ${reason}`),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('OriginQueue', () => {
  it('admits up to the connection limit at once, then queues in arrival order', () => {
    const queue = new OriginQueue({ connections: 2, queueSize: 10, queueTimeoutMs: 60_000 });
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => waiter(name, log)) as [QueueWaiter, QueueWaiter, QueueWaiter, QueueWaiter];
    for (const w of [a, b, c, d]) queue.enter(w);
    expect(log).toEqual(['a admitted', 'b admitted']);
    expect({ active: queue.active, waiting: queue.waiting }).toEqual({ active: 2, waiting: 2 });
    queue.leave(b, true);
    expect(log.at(-1)).toBe('c admitted');
    queue.leave(a, true);
    expect(log.at(-1)).toBe('d admitted');
    queue.leave(c, true);
    queue.leave(d, true);
    expect(queue.idle).toBe(true);
  });

  it('refuses at once when the queue is full', () => {
    const queue = new OriginQueue({ connections: 1, queueSize: 1, queueTimeoutMs: 60_000 });
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((name) => waiter(name, log)) as [QueueWaiter, QueueWaiter, QueueWaiter];
    queue.enter(a);
    queue.enter(b);
    queue.enter(c);
    expect(log).toEqual(['a admitted', 'c refused: full']);
    queue.leave(c, false); // refused: held nothing
    queue.leave(b, false); // gives its place back
    queue.leave(a, true);
    expect(queue.idle).toBe(true);
    expect(log).toEqual(['a admitted', 'c refused: full']);
  });

  it('refuses a waiter whose wait runs out, and forgets it', async () => {
    const queue = new OriginQueue({ connections: 1, queueSize: 5, queueTimeoutMs: 50 });
    const log: string[] = [];
    const [a, b] = ['a', 'b'].map((name) => waiter(name, log)) as [QueueWaiter, QueueWaiter];
    queue.enter(a);
    queue.enter(b);
    await sleep(120);
    expect(log).toEqual(['a admitted', 'b refused: timeout']);
    expect(queue.waiting).toBe(0);
    queue.leave(b, false);
    queue.leave(a, true);
    expect(queue.idle).toBe(true);
  });

  it('lets a waiter admitted on leave() leave at once, without losing count', () => {
    const queue = new OriginQueue({ connections: 1, queueSize: 5, queueTimeoutMs: 60_000 });
    const log: string[] = [];
    const a = waiter('a', log);
    // b gives its connection back as soon as it gets it (its dispatch failed synchronously).
    const b: QueueWaiter = { admit: () => { log.push('b admitted'); queue.leave(b, true); }, refuse: () => log.push('b refused') };
    const c = waiter('c', log);
    queue.enter(a);
    queue.enter(b);
    queue.enter(c);
    queue.leave(a, true);
    expect(log).toEqual(['a admitted', 'b admitted', 'c admitted']);
    expect({ active: queue.active, waiting: queue.waiting }).toEqual({ active: 1, waiting: 0 });
  });
});
