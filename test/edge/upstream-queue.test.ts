// Waiting for an upstream connection is bounded, in time and in number: beyond, 503
// UPSTREAM_BUSY with Retry-After. One connection, one place in the queue, half a second.
import { startEdge, sleep, type Edge } from './support.ts';

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge(['--upstream-max-connections', '1', '--upstream-queue-size', '1', '--upstream-queue-timeout', '500ms']);
});

afterAll(async () => {
  await edge?.close();
});

interface Timed {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly code: string | undefined;
  readonly ms: number;
  /** When the answer was read whole (Date.now()). */
  readonly ended: number;
}

async function timed(path: string, headers: Record<string, string> = {}): Promise<Timed> {
  const started = Date.now();
  const response = await fetch(`${edge.proxy.url}${path}`, { headers });
  const text = await response.text();
  const code = response.headers.get('content-type') === 'application/json' ? (JSON.parse(text) as { error?: { code: string } }).error?.code : undefined;
  const ended = Date.now();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), code, ms: ended - started, ended };
}

describe('waiting for an upstream connection', () => {
  it('answers 503 UPSTREAM_BUSY with Retry-After at once when the queue is full, and when the wait runs out', async () => {
    const holder = timed('/delay/2500'); // takes the only connection
    await sleep(300);
    const waiter = timed('/public/waits'); // takes the only place in the queue
    await sleep(100);
    const full = await timed('/m2m/valid', edge.bearer()); // authenticated, but nowhere to wait
    expect(full).toMatchObject({ status: 503, code: 'UPSTREAM_BUSY', retryAfter: '1' });
    expect(full.ms).toBeLessThan(400);

    const waited = await waiter;
    expect(waited).toMatchObject({ status: 503, code: 'UPSTREAM_BUSY', retryAfter: '1' });
    expect(waited.ms).toBeGreaterThanOrEqual(450);
    expect(waited.ms).toBeLessThan(2_000);

    expect((await holder).status).toBe(200);
    expect((await timed('/public/after')).status).toBe(200); // the connection is free again
    await edge.proxy.waitForLog((line) => line.path === '/public/waits' && line.code === 'UPSTREAM_BUSY' && line.status === 503);
  });

  it('serves a request whose wait ends before the queue timeout', async () => {
    const heads = edge.upstream.heads;
    const holder = timed('/delay/200');
    // The holder has the only connection once the upstream has its request: the waiter queues.
    while (edge.upstream.heads === heads) await sleep(5);
    const waiter = await timed('/public/queued');
    const held = await holder;
    expect(held.status).toBe(200);
    expect(waiter.status).toBe(200);
    expect(waiter.ended).toBeGreaterThanOrEqual(held.ended); // it got the connection the holder gave back
  });
});
