import { createDebouncer } from '../../src/time/debounce.ts';
import { createFakeTimers } from './fake-timers.ts';

test('a burst of changes runs once, after the hold-off', async () => {
  const timers = createFakeTimers();
  let runs = 0;
  const debouncer = createDebouncer({ holdoffMs: 50, maxHoldoffMs: 500, timers, run: () => runs++ });
  for (let i = 0; i < 10; i++) {
    debouncer.trigger();
    await timers.advance(10);
  }
  expect(runs).toBe(0);
  await timers.advance(49);
  expect(runs).toBe(1);
  await timers.advance(1_000);
  expect(runs).toBe(1);
});

test('a steady trickle cannot postpone a run beyond the maximum hold-off', async () => {
  const timers = createFakeTimers();
  const ranAt: number[] = [];
  const start = timers.now();
  const debouncer = createDebouncer({ holdoffMs: 50, maxHoldoffMs: 500, timers, run: () => ranAt.push(timers.now() - start) });
  for (let i = 0; i < 120; i++) {
    debouncer.trigger();
    await timers.advance(10);
  }
  expect(ranAt.slice(0, 2)).toEqual([500, 1_000]);
});

test('cancel drops the pending run', async () => {
  const timers = createFakeTimers();
  let runs = 0;
  const debouncer = createDebouncer({ holdoffMs: 50, maxHoldoffMs: 500, timers, run: () => runs++ });
  debouncer.trigger();
  debouncer.cancel();
  await timers.advance(1_000);
  expect(runs).toBe(0);
  expect(timers.pending()).toBe(0);
});
