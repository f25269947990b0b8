// Choosing where a request goes: smooth weighted round-robin between a rule's upstreams
// (nginx's algorithm: exact proportions, interleaved, no randomness), then round-robin over
// the chosen upstream's endpoints. State is keyed by the compiled objects themselves, so a
// table swap starts afresh and the old state goes with the old table.
import type { Endpoint, Upstream } from '../../model/table.ts';

export interface Pick {
  readonly upstream: Upstream;
  readonly endpoint: Endpoint;
}

export interface SelectionState {
  /** Smooth-WRR running weights, per upstream list (one per forward action). */
  readonly current: WeakMap<readonly Upstream[], number[]>;
  /** The next endpoint index, per upstream. */
  readonly cursors: WeakMap<Upstream, number>;
}

export function createSelectionState(): SelectionState {
  return { current: new WeakMap(), cursors: new WeakMap() };
}

/**
 * Picks an upstream by weight (weight 0, or no endpoints, is never picked) and the next of its
 * endpoints. With `avoid`, picks an endpoint with another origin — for the one retry of a
 * request that could not connect — or null when there is none. Null when nothing is eligible.
 */
export function selectEndpoint(
  upstreams: readonly Upstream[],
  state: SelectionState,
  avoid: Endpoint | null = null,
): Pick | null {
  const index = pickUpstream(upstreams, state);
  if (index === -1) return null;
  const first = upstreams[index] as Upstream;
  const endpoint = nextEndpoint(first, state, avoid);
  if (endpoint !== null) return { upstream: first, endpoint };

  // The chosen upstream has nothing but the endpoint to avoid: try the others, in order.
  for (let step = 1; step < upstreams.length; step++) {
    const upstream = upstreams[(index + step) % upstreams.length] as Upstream;
    if (!eligible(upstream)) continue;
    const other = nextEndpoint(upstream, state, avoid);
    if (other !== null) return { upstream, endpoint: other };
  }
  return null;
}

function eligible(upstream: Upstream): boolean {
  return upstream.weight > 0 && upstream.endpoints.length > 0;
}

function pickUpstream(upstreams: readonly Upstream[], state: SelectionState): number {
  if (upstreams.length === 1) return eligible(upstreams[0] as Upstream) ? 0 : -1;
  let current = state.current.get(upstreams);
  if (current === undefined) {
    current = new Array<number>(upstreams.length).fill(0);
    state.current.set(upstreams, current);
  }
  let best = -1;
  let total = 0;
  for (let i = 0; i < upstreams.length; i++) {
    const upstream = upstreams[i] as Upstream;
    if (!eligible(upstream)) continue;
    total += upstream.weight;
    current[i] = (current[i] as number) + upstream.weight;
    if (best === -1 || (current[i] as number) > (current[best] as number)) best = i;
  }
  if (best !== -1) current[best] = (current[best] as number) - total;
  return best;
}

function nextEndpoint(upstream: Upstream, state: SelectionState, avoid: Endpoint | null): Endpoint | null {
  const { endpoints } = upstream;
  if (endpoints.length === 1) {
    // One endpoint, nothing to rotate (most upstreams: a `url` backend, or a Service's one address).
    const only = endpoints[0] as Endpoint;
    return avoid !== null && only.origin === avoid.origin ? null : only;
  }
  const start = state.cursors.get(upstream) ?? 0;
  for (let step = 0; step < endpoints.length; step++) {
    const endpoint = endpoints[(start + step) % endpoints.length] as Endpoint;
    if (avoid !== null && endpoint.origin === avoid.origin) continue;
    state.cursors.set(upstream, (start + step + 1) % endpoints.length);
    return endpoint;
  }
  return null;
}
