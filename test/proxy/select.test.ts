import type { Endpoint, Upstream } from '../../src/model/table.ts';
import { createSelectionState, selectEndpoint } from '../../src/proxy/forward/select.ts';

function upstream(key: string, weight: number, ...origins: string[]): Upstream {
  return { key, weight, endpoints: origins.map((origin): Endpoint => ({ origin })) };
}

function picks(upstreams: readonly Upstream[], count: number): Map<string, number> {
  const state = createSelectionState();
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const pick = selectEndpoint(upstreams, state);
    const key = pick === null ? 'none' : pick.endpoint.origin;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

describe('selectEndpoint', () => {
  it('splits requests between upstreams in proportion to their weights, exactly', () => {
    const upstreams = [upstream('a', 1, 'http://a'), upstream('b', 3, 'http://b'), upstream('c', 6, 'http://c')];
    expect(picks(upstreams, 1000)).toEqual(new Map([['http://a', 100], ['http://b', 300], ['http://c', 600]]));
  });

  it('interleaves picks rather than sending runs to the heaviest upstream', () => {
    const upstreams = [upstream('a', 5, 'http://a'), upstream('b', 1, 'http://b'), upstream('c', 1, 'http://c')];
    const state = createSelectionState();
    const order = Array.from({ length: 7 }, () => selectEndpoint(upstreams, state)?.upstream.key).join('');
    expect(order).toBe('aabacaa'); // nginx's smooth weighted round-robin
  });

  it('never picks an upstream of weight 0, nor one without endpoints', () => {
    const upstreams = [upstream('a', 0, 'http://a'), upstream('b', 2, 'http://b'), upstream('c', 5)];
    expect(picks(upstreams, 100)).toEqual(new Map([['http://b', 100]]));
    expect(selectEndpoint([upstream('a', 0, 'http://a')], createSelectionState())).toBeNull();
    expect(selectEndpoint([upstream('c', 1)], createSelectionState())).toBeNull();
    expect(selectEndpoint([], createSelectionState())).toBeNull();
  });

  it('goes round-robin over the endpoints of an upstream', () => {
    const upstreams = [upstream('a', 1, 'http://a1', 'http://a2', 'http://a3')];
    const state = createSelectionState();
    const order = Array.from({ length: 6 }, () => selectEndpoint(upstreams, state)?.endpoint.origin);
    expect(order).toEqual(['http://a1', 'http://a2', 'http://a3', 'http://a1', 'http://a2', 'http://a3']);
  });

  it('picks another endpoint for a retry: same upstream first, then the others, else none', () => {
    const state = createSelectionState();
    const two = [upstream('a', 1, 'http://a1', 'http://a2')];
    expect(selectEndpoint(two, state, { origin: 'http://a1' })?.endpoint.origin).toBe('http://a2');
    expect(selectEndpoint(two, state, { origin: 'http://a2' })?.endpoint.origin).toBe('http://a1');

    const split = [upstream('a', 9, 'http://a1'), upstream('b', 1, 'http://b1')];
    expect(selectEndpoint(split, state, { origin: 'http://a1' })?.endpoint.origin).toBe('http://b1');

    const alone = [upstream('a', 1, 'http://a1'), upstream('b', 0, 'http://b1')];
    expect(selectEndpoint(alone, state, { origin: 'http://a1' })).toBeNull();
  });

  it('keeps state per compiled upstream list: a new table starts afresh', () => {
    const state = createSelectionState();
    const first = [upstream('a', 1, 'http://a1', 'http://a2')];
    expect(selectEndpoint(first, state)?.endpoint.origin).toBe('http://a1');
    const rebuilt = [upstream('a', 1, 'http://a1', 'http://a2')];
    expect(selectEndpoint(rebuilt, state)?.endpoint.origin).toBe('http://a1');
    expect(selectEndpoint(first, state)?.endpoint.origin).toBe('http://a2');
  });
});
