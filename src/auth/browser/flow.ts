// The browser flow (issue 5): sessions on protected rules, the authorization code flow on the
// callback path (signin.ts), refresh before forwarding (refresh.ts), logout (logout.ts).
// src/auth/runtime.ts calls it; the proxy pipeline applies what it decides.
import { errorAnswer, WELL_KNOWN_PAGES } from '../../model/answer.ts';
import type { GuardContext, GuardDecision, GuardRequest } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import type { DecisionTrace } from '../../model/trace.ts';
import type { Logger } from '../../observability/logger.ts';
import { SYSTEM_TIMERS, type Timers } from '../../time/timers.ts';
import { authorize } from '../authorize.ts';
import { deniedReason } from '../rules.ts';
import { AuthError } from '../errors.ts';
import { callerOf, identityHeaders } from '../identity.ts';
import type { Provider } from '../provider.ts';
import { createClientCache } from './client.ts';
import type { BrowserFlow } from './contract.ts';
import { clearChunked, parseCookies, sessionCookieAttributes, type CookieJar } from './cookies.ts';
import { log, type FlowKit } from './kit.ts';
import { createLogout } from './logout.ts';
import { createPersonalPages, refusedContext, signInLink } from './me.ts';
import { createRedisPool, SessionStoreUnavailable, type RedisSettings } from './redis.ts';
import { createRefresher, needsRefresh } from './refresh.ts';
import { createRevocations } from './revocations.ts';
import { browserError, deny, type BrowserErrorCode } from './responses.ts';
import { policyKeys } from './seal.ts';
import { createSessionStore, SessionTooLarge, type PolicyKeys } from './sessions.ts';
import { createSignIn } from './signin.ts';
import { isNavigation, originalTarget } from './targets.ts';
import { sessionClaims } from './tokens.ts';

export interface BrowserFlowOptions {
  readonly logger: Logger;
  /** The clock (session timeouts, refresh, token expiry); injectable for tests. */
  readonly timers?: Timers;
  /** A session's tokens were renewed at the provider (metrics). */
  readonly onRefreshed?: (policy: AuthPolicy) => void;
}

/** Name of the upstream header that carries the ID token when `forward.idToken` is on. */
export const ID_TOKEN_HEADER = 'x-portcullis-id-token';

export function createBrowserFlow(options: BrowserFlowOptions): BrowserFlow {
  const { logger } = options;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const now = () => timers.now();
  const clients = createClientCache();
  const redis = createRedisPool(logger);
  const keyCache = new Map<string, PolicyKeys>();
  const seconds = () => Math.floor(now() / 1000);
  const kit: FlowKit = {
    logger,
    now,
    onRefreshed: options.onRefreshed,
    seconds,
    clients,
    store: createSessionStore(redis, createRevocations({ redis, logger, seconds })),
    keysOf(policy) {
      let keys = keyCache.get(policy.fingerprint);
      if (keys === undefined) {
        keys = { session: policyKeys(policy, 'session'), sessionId: policyKeys(policy, 'session-id'), login: policyKeys(policy, 'login') };
        keyCache.set(policy.fingerprint, keys);
      }
      return keys;
    },
  };
  const { store, keysOf } = kit;
  const signIn = createSignIn(kit);
  const refresher = createRefresher(kit);
  const logout = createLogout(kit);
  const personal = createPersonalPages(kit, signIn);

  /** No usable session: sign in (navigations), 401 (everything else), or through (Allow). */
  async function unauthenticated(request: GuardRequest, policy: AuthPolicy, provider: Provider, context: GuardContext, jar: CookieJar, reason: string, cookies: string[]): Promise<GuardDecision> {
    if (policy.unauthenticated === 'Allow') return { kind: 'allow', identity: {}, caller: null, authorization: null, cookies, log: log(policy, 'allow', 'UNAUTHENTICATED_ALLOWED') };
    if (policy.unauthenticated === 'Redirect' && !context.upgrade && isNavigation(request)) {
      return signIn.start(policy, provider, context, jar, originalTarget(context.path, context.query), cookies, reason);
    }
    // Single-page apps: a fetch() gets 401, never a redirect into a CORS failure at the provider.
    // A route that also takes bearer tokens says so, as RFC 6750 asks of a 401.
    const challenge = policy.bearer === null ? undefined : { 'www-authenticate': 'Bearer realm="portcullis"' };
    const signInPage = { signIn: signInLink(originalTarget(context.path, context.query), false) };
    const answer = { ...browserError('SESSION_REQUIRED', 'Sign in first: this request carries no valid session.'), headers: challenge, page: signInPage };
    return deny(answer, cookies, log(policy, 'deny', reason));
  }

  async function authenticate(request: GuardRequest, policy: AuthPolicy, provider: Provider, context: GuardContext, trace?: DecisionTrace): Promise<GuardDecision> {
    const browser = policy.browser!;
    const settings = browser.session;
    const jar = parseCookies(request.headers.cookie);
    const keys = keysOf(policy);
    const nowSeconds = seconds();
    const unavailable = (code: BrowserErrorCode, message: string) => deny(browserError(code, message), [], log(policy, 'deny', code));

    let loaded;
    try {
      loaded = await store.load(policy, keys, jar);
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailable)) throw error;
      return unavailable('SESSION_STORE_UNAVAILABLE', 'The session store is unreachable; try again shortly.');
    }
    const attributes = sessionCookieAttributes(settings, context.scheme, null);
    if (loaded.session === null) {
      // A cookie that does not unseal (tampered, truncated, foreign, or from a rotated-out key),
      // or that was logged out, is cleared.
      return unauthenticated(request, policy, provider, context, jar, loaded.reason, clearChunked(jar, settings.cookieName, attributes));
    }

    const stored = loaded;
    let { session } = stored;
    const endSession = async (reason: string) => {
      let cookies: string[];
      try {
        cookies = await store.destroy(policy, keys, jar, stored.id, context.scheme);
      } catch {
        cookies = clearChunked(jar, settings.cookieName, attributes);
      }
      return unauthenticated(request, policy, provider, context, jar, reason, cookies);
    };
    if (nowSeconds >= session.createdAt + settings.absoluteTimeoutMs / 1000) return endSession('SESSION_EXPIRED');
    if (nowSeconds >= session.touchedAt + settings.idleTimeoutMs / 1000) return endSession('SESSION_IDLE');

    let dirty = false;
    let reason = 'SESSION_VALID';
    if (needsRefresh(session, nowSeconds)) {
      if (!browser.refresh || session.refreshToken === null) return endSession('SESSION_TOKENS_EXPIRED');
      const outcome = await refresher.refresh(policy, provider, session);
      if (outcome.kind === 'unavailable') return unavailable('PROVIDER_UNAVAILABLE', 'The identity provider did not answer the token refresh; try again shortly.');
      if (outcome.kind === 'failed') {
        logger.info({ policy: policy.key, requestId: context.requestId, reason: outcome.reason }, 'session refresh failed; the session ends');
        return endSession('REFRESH_FAILED');
      }
      session = outcome.session;
      dirty = true;
      reason = 'SESSION_REFRESHED';
    }
    // The idle timeout moves with use, but the session is re-sealed only now and then.
    if (nowSeconds - session.touchedAt >= touchInterval(settings.idleTimeoutMs)) {
      session = { ...session, touchedAt: nowSeconds };
      dirty = true;
    }
    const cookies: string[] = [];
    if (dirty) {
      try {
        cookies.push(...(await store.save(policy, keys, jar, session, stored.id, context.scheme, nowSeconds)));
      } catch (error) {
        if (error instanceof SessionStoreUnavailable) return unavailable('SESSION_STORE_UNAVAILABLE', 'The session store is unreachable; try again shortly.');
        if (error instanceof SessionTooLarge) return endSession('SESSION_TOO_LARGE');
        throw error;
      }
    }

    // The rules of the route run on every request, from the sealed (once verified) claims.
    const claims = sessionClaims(session, policy);
    const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
    try {
      authorize(claims, policy, { kind: 'session', request, context }, trace);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      // For a person: who is signed in, and the ways on (sign out, another account); the JSON body is as ever.
      const page = refusedContext(claims, policy, provider, originalTarget(context.path, context.query));
      return deny(errorAnswer(error.code, error.message, { page }), cookies, log(policy, 'deny', deniedReason(error), sub));
    }
    const caller = callerOf(claims, policy, 'session');
    const identity = identityHeaders(claims, caller, policy);
    if (policy.forward.idToken) identity[ID_TOKEN_HEADER] = session.idToken;
    return {
      kind: 'allow',
      identity,
      caller,
      authorization: policy.forward.accessToken && session.accessToken !== null ? `Bearer ${session.accessToken}` : null,
      cookies,
      log: log(policy, 'allow', reason, sub),
    };
  }

  return {
    authenticate,
    async endpoint(request, policies, providerOf, context) {
      if (context.path === WELL_KNOWN_PAGES.me) return personal.me(request, policies, providerOf, context);
      if (context.path === WELL_KNOWN_PAGES.signIn) return personal.signIn(request, policies, providerOf, context);
      const callbacks = policies.filter((policy) => policy.browser!.callbackPath === context.path);
      if (callbacks.length > 0) return signIn.callback(request, callbacks, providerOf, context);
      return logout(request, policies.filter((policy) => policy.browser!.logoutPath === context.path), providerOf, context);
    },
    sync(policies) {
      const fingerprints = new Set(policies.map((policy) => policy.fingerprint));
      for (const fingerprint of keyCache.keys()) if (!fingerprints.has(fingerprint)) keyCache.delete(fingerprint);
      clients.retain(fingerprints);
      const servers: RedisSettings[] = [];
      for (const policy of policies) {
        const sessionStore = policy.browser!.session.store;
        const server = sessionStore.kind === 'Redis' ? sessionStore : sessionStore.revocations;
        if (server !== null) servers.push(server);
      }
      redis.retain(servers);
    },
    async close() {
      await Promise.all([clients.close(), redis.close()]);
    },
  };
}

/** How often the idle timeout is moved (and so the session re-sealed): a tenth of it, at most 5 min. */
function touchInterval(idleTimeoutMs: number): number {
  return Math.min(300, idleTimeoutMs / 10_000);
}
