// Forwarding to a rule's upstreams with the one retry the design allows, when repeating the
// request is harmless — an idempotent method and no request body (a body stream cannot be
// replayed): a request that could not connect is tried once more on another endpoint; one whose
// reused keep-alive connection was reset before any answer (the upstream closed it as we sent)
// is tried once more, on another endpoint if there is one, else on the same one afresh.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint, Upstream } from '../../model/table.ts';
import { hasBody } from './client-body.ts';
import { selectEndpoint, type SelectionState } from './select.ts';
import type { ForwardOutcome, ForwardTarget, Forwarder } from './types.ts';

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export interface UpstreamForwardOutcome extends ForwardOutcome {
  /** How many endpoints were tried: 1, or 2 after a retry. */
  readonly attempts: number;
  readonly upstream: Upstream;
}

/**
 * Picks an endpoint, forwards, and retries once on another endpoint when allowed.
 * `targetFor` builds the target for an endpoint (only the origin differs between attempts).
 * Resolves null when no upstream has an endpoint (the caller answers 503).
 */
export async function forwardWithRetry(
  forwarder: Forwarder,
  req: IncomingMessage,
  res: ServerResponse,
  upstreams: readonly Upstream[],
  state: SelectionState,
  targetFor: (endpoint: Endpoint) => ForwardTarget,
): Promise<UpstreamForwardOutcome | null> {
  const first = selectEndpoint(upstreams, state);
  if (first === null) return null;
  const target = targetFor(first.endpoint);
  const outcome = await forwarder.forward(req, res, target);
  if (!mayRetry(req, outcome, target)) return { ...outcome, attempts: 1, upstream: first.upstream };

  const second = selectEndpoint(upstreams, state, first.endpoint) ?? (outcome.error?.code === 'UPSTREAM_RESET' ? first : null);
  if (second === null) return { ...outcome, attempts: 1, upstream: first.upstream };
  const retried = await forwarder.forward(req, res, targetFor(second.endpoint));
  return { ...retried, attempts: 2, upstream: second.upstream };
}

function mayRetry(req: IncomingMessage, outcome: ForwardOutcome, target: ForwardTarget): boolean {
  return (
    (outcome.error?.code === 'UPSTREAM_CONNECT_FAILED' || (outcome.error?.code === 'UPSTREAM_RESET' && outcome.status === null)) &&
    !outcome.responseStarted &&
    target.signal?.aborted !== true &&
    IDEMPOTENT.has(req.method ?? '') &&
    !hasBody(req)
  );
}
