// Refresh: an access token about to expire is renewed with the refresh token before the request
// is forwarded. Concurrent requests of one session share one refresh, and its result is kept a
// moment for requests still carrying the old cookie (a provider that rotates refresh tokens would
// refuse the old one a second time). Cognito sends no new refresh token: the old one is kept.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { AuthPolicy } from '../../model/policy.ts';
import { AuthError } from '../errors.ts';
import type { Provider } from '../provider.ts';
import { jwtPayload, type Session } from './codec.ts';
import type { FlowKit } from './kit.ts';
import { accessExpiry, grantedScope, verifyAccessToken, verifyIdToken } from './tokens.ts';

/** A finished refresh is remembered this long, for requests that still carry the old cookie. */
const RECENT_REFRESH_MS = 30_000;

export type RefreshOutcome = { readonly kind: 'refreshed'; readonly session: Session } | { readonly kind: 'failed'; readonly reason: string } | { readonly kind: 'unavailable' };

export interface Refresher {
  refresh(policy: AuthPolicy, provider: Provider, session: Session): Promise<RefreshOutcome>;
}

export function createRefresher(kit: FlowKit): Refresher {
  const { now, seconds, clients } = kit;
  const refreshing = new Map<string, Promise<RefreshOutcome>>();
  const recentRefreshes = new Map<string, { outcome: RefreshOutcome; until: number }>();

  /** Concurrent requests of one session share one refresh; its result is kept for a moment. */
  function refreshOnce(policy: AuthPolicy, provider: Provider, session: Session): Promise<RefreshOutcome> {
    const key = createHash('sha256').update(`${policy.fingerprint}\n${session.refreshToken}\n${session.accessToken ?? ''}`).digest('base64url');
    const recent = recentRefreshes.get(key);
    if (recent !== undefined && recent.until > now()) return Promise.resolve(recent.outcome);
    let running = refreshing.get(key);
    if (running === undefined) {
      running = refresh(policy, provider, session).then((outcome) => {
        refreshing.delete(key);
        if (outcome.kind === 'refreshed') {
          for (const [old, entry] of recentRefreshes) if (entry.until <= now()) recentRefreshes.delete(old);
          recentRefreshes.set(key, { outcome, until: now() + RECENT_REFRESH_MS });
        }
        return outcome;
      });
      refreshing.set(key, running);
    }
    return running;
  }

  async function refresh(policy: AuthPolicy, provider: Provider, session: Session): Promise<RefreshOutcome> {
    const config = clients.get(policy, provider);
    if (config === null) return { kind: 'unavailable' };
    let tokens;
    try {
      tokens = await oidc.refreshTokenGrant(config, session.refreshToken!);
    } catch (error) {
      return providerFailure(error);
    }
    const nowSeconds = seconds();
    let idToken = session.idToken;
    try {
      if (tokens.id_token !== undefined) {
        const claims = await verifyIdToken(tokens.id_token, policy, provider, now(), null);
        // OpenID Connect Core 12.2: the same user, or no session at all.
        if (claims.sub !== jwtPayload(session.idToken)?.sub) return { kind: 'failed', reason: 'SUBJECT_CHANGED' };
        idToken = tokens.id_token;
      }
      await verifyAccessToken(tokens.access_token, policy, provider, now());
    } catch (error) {
      if (error instanceof AuthError) return { kind: 'failed', reason: error.code };
      throw error;
    }
    kit.onRefreshed?.(policy);
    return {
      kind: 'refreshed',
      session: {
        ...session,
        touchedAt: nowSeconds,
        idToken,
        accessToken: tokens.access_token,
        accessExpiresAt: accessExpiry(tokens.access_token, tokens.expires_in, nowSeconds, jwtPayload(idToken) ?? {}),
        // Cognito answers a refresh without a new refresh token: the one we have stays good.
        refreshToken: tokens.refresh_token ?? session.refreshToken,
        scope: grantedScope(tokens.scope, tokens.access_token, session.scope),
      },
    };
  }

  return { refresh: refreshOnce };
}

/** Refresh a little before expiry (a tenth of the token's life, at most 30 s), so the upstream gets a token that lasts. */
export function needsRefresh(session: Session, nowSeconds: number): boolean {
  if (session.accessToken === null) return true;
  const payload = jwtPayload(session.accessToken);
  const lifetime = typeof payload?.iat === 'number' ? session.accessExpiresAt - payload.iat : 0;
  const margin = Math.min(30, Math.max(0, lifetime / 10));
  return nowSeconds >= session.accessExpiresAt - margin;
}

function providerFailure(error: unknown): RefreshOutcome {
  // The provider answered no (invalid_grant, …) or sent something unacceptable: the session ends.
  if (error instanceof oidc.ResponseBodyError) return { kind: 'failed', reason: error.error };
  if (error instanceof oidc.ClientError && error.code !== undefined && !/TIMEOUT|ABORT|FETCH/i.test(error.code)) return { kind: 'failed', reason: error.code };
  // It did not answer: the session stays, and the request gets a 503.
  return { kind: 'unavailable' };
}
