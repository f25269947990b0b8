// The forwarding engine: what the proxy pipeline uses to reach upstreams.
export { ForwardError } from './types.ts';
export type { ForwardErrorCode, ForwardOutcome, ForwardTarget, ForwardTimeouts, Forwarder, UpstreamHeaders } from './types.ts';
export { createUndiciForwarder, DEFAULT_FORWARDER_LIMITS, type UndiciForwarder, type UndiciForwarderOptions } from './undici-forwarder.ts';
export { headersFromClient } from './hop-by-hop.ts';
export { createSelectionState, selectEndpoint, type Pick, type SelectionState } from './select.ts';
export { forwardWithRetry, type UpstreamForwardOutcome } from './retry.ts';
export { proxyUpgrade, type UpgradeOutcome, type UpgradeTarget } from './upgrade.ts';
