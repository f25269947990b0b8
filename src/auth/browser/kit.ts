// What the parts of the browser flow share: the clock, the logger, openid-client
// configurations, the session store and the sealing keys of each policy.
import type { DecisionLog, GuardContext } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ClientCache } from './client.ts';
import type { CookieAttributes } from './cookies.ts';
import type { PolicyKeys, SessionStore } from './sessions.ts';

export interface FlowKit {
  readonly logger: Logger;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Seconds since the epoch, as sessions count. */
  readonly seconds: () => number;
  readonly clients: ClientCache;
  readonly store: SessionStore;
  keysOf(policy: AuthPolicy): PolicyKeys;
  /** A session's tokens were renewed at the provider (metrics). */
  readonly onRefreshed?: (policy: AuthPolicy) => void;
}

/** A login attempt's cookie lives this long (seconds): time enough to sign in. */
export const ATTEMPT_TTL_SECONDS = 600;
/** At most this many login attempts at once per policy; starting another drops the oldest. */
export const MAX_ATTEMPTS = 4;
/** Characters of `state` that name its attempt's cookie. */
export const ATTEMPT_ID_LENGTH = 16;

export function log(policy: AuthPolicy, decision: DecisionLog['decision'], reason: string, sub?: string): DecisionLog {
  return { policy: policy.key, decision, reason, ...(sub === undefined ? {} : { sub }) };
}

export function attemptAttributes(policy: AuthPolicy, context: GuardContext, maxAge: number | null): CookieAttributes {
  const session = policy.browser!.session;
  // Lax whatever the session's SameSite: the callback is a top-level navigation from the provider.
  return { path: '/', domain: session.cookieDomain, secure: session.secure ?? context.scheme === 'https', sameSite: 'Lax', maxAge };
}

/** The restart counter of earlier versions lived at the callback only: it is cleared there. */
export function restartsAttributes(policy: AuthPolicy, context: GuardContext, maxAge: number | null): CookieAttributes {
  return { ...attemptAttributes(policy, context, maxAge), path: policy.browser!.callbackPath };
}
