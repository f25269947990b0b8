// The browser flow (issue 5): sessions on protected rules, the authorization code flow on the
// callback path, refresh before forwarding, logout. src/auth/runtime.ts calls it; the proxy
// pipeline applies what it decides.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import type { AuthPolicy } from '../../model/policy.ts';
import type { Logger } from '../../observability/logger.ts';
import type { DecisionLog, GuardContext, GuardDecision } from '../../proxy/guard.ts';
import { authorize } from '../authorize.ts';
import { AuthError } from '../errors.ts';
import { identityHeaders } from '../identity.ts';
import type { Provider } from '../provider.ts';
import { createClientCache } from './client.ts';
import { decodeAttempt, encodeAttempt, jwtPayload, type LoginAttempt, type Session } from './codec.ts';
import type { BrowserFlow } from './contract.ts';
import {
  clearChunked,
  expireCookie,
  forwardedCookieHeader,
  loginCookiePrefix,
  parseCookies,
  restartsCookieName,
  sessionCookieAttributes,
  sessionCookieNames,
  setCookie,
  type CookieAttributes,
  type CookieJar,
} from './cookies.ts';
import { createRedisPool, SessionStoreUnavailable, type RedisSettings } from './redis.ts';
import { browserError, sendAnswer, sendContinuePage, sendRedirect, type BrowserErrorCode } from './responses.ts';
import { policyKeys, seal, unseal } from './seal.ts';
import { createSessionStore, SessionTooLarge, type PolicyKeys } from './sessions.ts';
import { isNavigation, originalTarget } from './targets.ts';
import { accessExpiry, grantedScope, sessionClaims, verifyAccessToken, verifyIdToken } from './tokens.ts';

export interface BrowserFlowOptions {
  readonly logger: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** A login attempt's cookie lives this long (seconds): time enough to sign in. */
export const ATTEMPT_TTL_SECONDS = 600;
/** At most this many login attempts at once per policy; starting another drops the oldest. */
export const MAX_ATTEMPTS = 4;
/** A stale or mismatched callback restarts sign-in at most this many times in a row. */
export const MAX_RESTARTS = 2;
/** Characters of `state` that name its attempt's cookie. */
const ATTEMPT_ID_LENGTH = 16;
/** A finished refresh is remembered this long, for requests that still carry the old cookie. */
const RECENT_REFRESH_MS = 30_000;
/** Name of the upstream header that carries the ID token when `forward.idToken` is on. */
export const ID_TOKEN_HEADER = 'x-portcullis-id-token';

type RefreshOutcome = { readonly kind: 'refreshed'; readonly session: Session } | { readonly kind: 'failed'; readonly reason: string } | { readonly kind: 'unavailable' };

export function createBrowserFlow(options: BrowserFlowOptions): BrowserFlow {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const clients = createClientCache();
  const redis = createRedisPool(logger);
  const store = createSessionStore(redis);
  const keyCache = new Map<string, PolicyKeys>();
  const refreshing = new Map<string, Promise<RefreshOutcome>>();
  const recentRefreshes = new Map<string, { outcome: RefreshOutcome; until: number }>();

  function keysOf(policy: AuthPolicy): PolicyKeys {
    let keys = keyCache.get(policy.fingerprint);
    if (keys === undefined) {
      keys = { session: policyKeys(policy, 'session'), sessionId: policyKeys(policy, 'session-id'), login: policyKeys(policy, 'login') };
      keyCache.set(policy.fingerprint, keys);
    }
    return keys;
  }

  const seconds = () => Math.floor(now() / 1000);
  const log = (policy: AuthPolicy, decision: DecisionLog['decision'], reason: string, sub?: string): DecisionLog => ({ policy: policy.key, decision, reason, ...(sub === undefined ? {} : { sub }) });

  function attemptAttributes(policy: AuthPolicy, context: GuardContext, maxAge: number | null): CookieAttributes {
    const session = policy.browser!.session;
    // Lax whatever the session's SameSite: the callback is a top-level navigation from the provider.
    return { path: '/', domain: session.cookieDomain, secure: session.secure ?? context.scheme === 'https', sameSite: 'Lax', maxAge };
  }

  function restartsAttributes(policy: AuthPolicy, context: GuardContext, maxAge: number | null): CookieAttributes {
    return { ...attemptAttributes(policy, context, maxAge), path: policy.browser!.callbackPath };
  }

  // ---- Sign-in: the authorization request ------------------------------------------------

  async function startSignIn(req: IncomingMessage, res: ServerResponse, policy: AuthPolicy, provider: Provider, context: GuardContext, jar: CookieJar, returnTo: string, cookies: string[], reason: string): Promise<GuardDecision> {
    const config = clients.get(policy, provider);
    if (config === null) return sendAnswer(req, res, browserError('PROVIDER_UNAVAILABLE', 'The identity provider of this route is not reachable yet.'), cookies, context.requestId, log(policy, 'deny', 'PROVIDER_UNAVAILABLE'));
    const browser = policy.browser!;
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const redirectURI = `${context.scheme}://${context.host}${browser.callbackPath}`;
    const attempt: LoginAttempt = { state, nonce, codeVerifier, returnTo, redirectURI, createdAt: seconds() };
    const keys = keysOf(policy);

    // One cookie per attempt: parallel tabs never overwrite each other's state. Abandoned
    // attempts are bounded: the oldest go, so the Cookie header cannot grow into a 431.
    const prefix = loginCookiePrefix(browser.session.cookieName);
    const existing: { name: string; createdAt: number }[] = [];
    for (const [name, value] of jar) {
      if (!name.startsWith(prefix)) continue;
      const plaintext = await unseal(value, keys.login);
      const found = plaintext === null ? null : decodeAttempt(plaintext);
      existing.push({ name, createdAt: found?.createdAt ?? -1 });
    }
    existing.sort((a, b) => b.createdAt - a.createdAt);
    for (const old of existing.slice(MAX_ATTEMPTS - 1)) cookies.push(expireCookie(old.name, attemptAttributes(policy, context, null)));
    cookies.push(setCookie(prefix + state.slice(0, ATTEMPT_ID_LENGTH), await seal(encodeAttempt(attempt), keys.login), attemptAttributes(policy, context, ATTEMPT_TTL_SECONDS)));

    const scopes = policy.scopes.includes('openid') ? policy.scopes : ['openid', ...policy.scopes];
    const url = oidc.buildAuthorizationUrl(config, {
      ...browser.authorizationParams,
      redirect_uri: redirectURI,
      scope: scopes.join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return sendRedirect(res, url.href, cookies, context.requestId, log(policy, 'redirect', reason));
  }

  /** No usable session: sign in (navigations), 401 (everything else), or through (Allow). */
  async function unauthenticated(req: IncomingMessage, res: ServerResponse | null, policy: AuthPolicy, provider: Provider, context: GuardContext, jar: CookieJar, reason: string, cookies: string[]): Promise<GuardDecision> {
    const forwarded = forwardedCookieHeader(req.headers.cookie, [policy.browser!.session.cookieName]);
    if (policy.unauthenticated === 'Allow') {
      return { kind: 'allow', identity: {}, authorization: null, responseHeaders: cookies.length > 0 ? { 'set-cookie': cookies } : {}, cookie: forwarded, log: log(policy, 'allow', 'UNAUTHENTICATED_ALLOWED') };
    }
    if (policy.unauthenticated === 'Redirect' && res !== null && !context.upgrade && isNavigation(req)) {
      return startSignIn(req, res, policy, provider, context, jar, originalTarget(context.path, context.query), cookies, reason);
    }
    // Single-page apps: a fetch() gets 401, never a redirect into a CORS failure at the provider.
    // A route that also takes bearer tokens says so, as RFC 6750 asks of a 401.
    const challenge = policy.bearer === null ? undefined : { 'www-authenticate': 'Bearer realm="portcullis"' };
    const answer = { ...browserError('SESSION_REQUIRED', 'Sign in first: this request carries no valid session.'), headers: challenge };
    if (res === null) return { kind: 'answer', answer, log: log(policy, 'deny', reason) };
    return sendAnswer(req, res, answer, cookies, context.requestId, log(policy, 'deny', reason));
  }

  // ---- Requests to protected rules ------------------------------------------------------

  async function authenticate(req: IncomingMessage, res: ServerResponse | null, policy: AuthPolicy, provider: Provider, context: GuardContext): Promise<GuardDecision> {
    const browser = policy.browser!;
    const settings = browser.session;
    const jar = parseCookies(req.headers.cookie);
    const keys = keysOf(policy);
    const nowSeconds = seconds();
    const unavailable = (code: BrowserErrorCode, message: string) => {
      const answer = browserError(code, message);
      return res === null ? ({ kind: 'answer', answer, log: log(policy, 'deny', code) } as const) : sendAnswer(req, res, answer, [], context.requestId, log(policy, 'deny', code));
    };

    let stored;
    try {
      stored = await store.load(policy, keys, jar);
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailable)) throw error;
      return unavailable('SESSION_STORE_UNAVAILABLE', 'The session store is unreachable; try again shortly.');
    }
    const attributes = sessionCookieAttributes(settings, context.scheme, null);
    if (stored === null) {
      // A cookie that does not unseal (tampered, truncated, foreign, or from a rotated-out key) is cleared.
      const presented = sessionCookieNames(jar, settings.cookieName).length > 0;
      return unauthenticated(req, res, policy, provider, context, jar, presented ? 'SESSION_INVALID' : 'SESSION_MISSING', clearChunked(jar, settings.cookieName, attributes));
    }

    let { session } = stored;
    const endSession = async (reason: string) => {
      let cookies: string[];
      try {
        cookies = await store.destroy(policy, keys, jar, stored.id, context.scheme);
      } catch {
        cookies = clearChunked(jar, settings.cookieName, attributes);
      }
      return unauthenticated(req, res, policy, provider, context, jar, reason, cookies);
    };
    if (nowSeconds >= session.createdAt + settings.absoluteTimeoutMs / 1000) return endSession('SESSION_EXPIRED');
    if (nowSeconds >= session.touchedAt + settings.idleTimeoutMs / 1000) return endSession('SESSION_IDLE');

    let dirty = false;
    let reason = 'SESSION_VALID';
    if (needsRefresh(session, nowSeconds)) {
      if (!browser.refresh || session.refreshToken === null) return endSession('SESSION_TOKENS_EXPIRED');
      const outcome = await refreshOnce(policy, provider, session);
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
      authorize(claims, policy);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      const answer = { status: error.status, code: error.code, message: error.message };
      if (res === null) return { kind: 'answer', answer, log: log(policy, 'deny', error.code, sub) };
      return sendAnswer(req, res, answer, cookies, context.requestId, log(policy, 'deny', error.code, sub));
    }
    const identity = identityHeaders(claims, policy);
    if (policy.forward.idToken) identity[ID_TOKEN_HEADER] = session.idToken;
    return {
      kind: 'allow',
      identity,
      authorization: policy.forward.accessToken && session.accessToken !== null ? `Bearer ${session.accessToken}` : null,
      responseHeaders: cookies.length > 0 ? { 'set-cookie': cookies } : {},
      // Our cookies stay ours: the session and attempt cookies never reach the upstream.
      cookie: forwardedCookieHeader(req.headers.cookie, [settings.cookieName]),
      log: log(policy, 'allow', reason, sub),
    };
  }

  // ---- Refresh --------------------------------------------------------------------------

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

  // ---- The callback ---------------------------------------------------------------------

  async function callback(req: IncomingMessage, res: ServerResponse, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<GuardDecision> {
    const first = policies[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendAnswer(req, res, browserError('METHOD_NOT_ALLOWED', 'The sign-in callback takes GET requests only.'), [], context.requestId, log(first, 'deny', 'METHOD_NOT_ALLOWED'));
    }
    const params = new URLSearchParams(context.query);
    const state = params.get('state') ?? '';
    const jar = parseCookies(req.headers.cookie);

    // The attempt this callback finishes: its cookie is named after the state, and sealed with
    // the key of one policy (which tells which policy, when several share the callback path).
    let found: { policy: AuthPolicy; attempt: LoginAttempt; cookie: string } | null = null;
    if (state.length >= ATTEMPT_ID_LENGTH) {
      for (const policy of policies) {
        const cookie = loginCookiePrefix(policy.browser!.session.cookieName) + state.slice(0, ATTEMPT_ID_LENGTH);
        const value = jar.get(cookie);
        const plaintext = value === undefined ? null : await unseal(value, keysOf(policy).login);
        const attempt = plaintext === null ? null : decodeAttempt(plaintext);
        if (attempt !== null && attempt.state === state) {
          found = { policy, attempt, cookie };
          break;
        }
      }
    }
    if (found === null) {
      // A provider error for an attempt we cannot find is shown as it is: restarting would only
      // send the browser back to the same error.
      const error = params.get('error');
      if (error !== null) return sendAnswer(req, res, browserError(providerError(error).code, providerError(error).message), [], context.requestId, log(first, 'deny', 'PROVIDER_ERROR'));
      return restart(req, res, first, providerOf(first), context, jar, '/', [], 'STATE_MISMATCH');
    }

    const { policy, attempt } = found;
    const cookies = [expireCookie(found.cookie, attemptAttributes(policy, context, null))];
    const provider = providerOf(policy);
    if (attempt.createdAt + ATTEMPT_TTL_SECONDS < seconds()) return restart(req, res, policy, provider, context, jar, attempt.returnTo, cookies, 'ATTEMPT_EXPIRED');

    const error = params.get('error');
    if (error !== null) {
      const { code, message } = providerError(error);
      logger.info({ policy: policy.key, requestId: context.requestId, error: error.slice(0, 64) }, 'the provider refused the sign-in');
      return sendAnswer(req, res, browserError(code, message), cookies, context.requestId, log(policy, 'deny', code));
    }
    const config = provider === null ? null : clients.get(policy, provider);
    if (provider === null || config === null) {
      return sendAnswer(req, res, browserError('PROVIDER_UNAVAILABLE', 'The identity provider of this route is not reachable yet.'), cookies, context.requestId, log(policy, 'deny', 'PROVIDER_UNAVAILABLE'));
    }

    const currentURL = new URL(attempt.redirectURI);
    currentURL.search = context.query;
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, currentURL, { pkceCodeVerifier: attempt.codeVerifier, expectedState: attempt.state, expectedNonce: attempt.nonce, idTokenExpected: true });
    } catch (error) {
      // A code already used or expired (a reload, the back button): start again, a bounded number of times.
      if (error instanceof oidc.ResponseBodyError && error.error === 'invalid_grant') return restart(req, res, policy, provider, context, jar, attempt.returnTo, cookies, 'CODE_REJECTED');
      logger.warn({ policy: policy.key, requestId: context.requestId, err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'code exchange failed');
      return sendAnswer(req, res, browserError('SIGNIN_FAILED', 'The identity provider did not complete the sign-in.'), cookies, context.requestId, log(policy, 'deny', 'CODE_EXCHANGE_FAILED'));
    }

    const nowSeconds = seconds();
    let claims;
    try {
      // Verify before trusting any claim: signature with the provider's keys, iss, aud, exp, nonce.
      claims = await verifyIdToken(tokens.id_token ?? '', policy, provider, now(), attempt.nonce);
      await verifyAccessToken(tokens.access_token, policy, provider, now());
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      logger.warn({ policy: policy.key, requestId: context.requestId, reason: error.code }, 'tokens from the code exchange refused');
      return sendAnswer(req, res, browserError('SIGNIN_REJECTED', 'The identity provider answered with tokens that cannot be accepted.'), cookies, context.requestId, log(policy, 'deny', error.code));
    }

    const session: Session = {
      createdAt: nowSeconds,
      touchedAt: nowSeconds,
      idToken: tokens.id_token!,
      accessToken: tokens.access_token,
      accessExpiresAt: accessExpiry(tokens.access_token, tokens.expires_in, nowSeconds, claims),
      refreshToken: tokens.refresh_token ?? null,
      scope: grantedScope(tokens.scope, tokens.access_token, null),
    };
    const sub = String(claims.sub);
    try {
      cookies.push(...(await store.save(policy, keysOf(policy), jar, session, null, context.scheme, nowSeconds)));
    } catch (error) {
      if (error instanceof SessionStoreUnavailable) return sendAnswer(req, res, browserError('SESSION_STORE_UNAVAILABLE', 'The session store is unreachable; try again shortly.'), cookies, context.requestId, log(policy, 'deny', 'SESSION_STORE_UNAVAILABLE', sub));
      if (error instanceof SessionTooLarge) return sendAnswer(req, res, browserError('SESSION_TOO_LARGE', error.message), cookies, context.requestId, log(policy, 'deny', 'SESSION_TOO_LARGE', sub));
      throw error;
    }
    if (jar.has(restartsCookieName(policy.browser!.session.cookieName))) cookies.push(expireCookie(restartsCookieName(policy.browser!.session.cookieName), restartsAttributes(policy, context, null)));
    const done = log(policy, 'handled', 'SIGNED_IN', sub);
    if (policy.browser!.session.sameSite === 'Strict') return sendContinuePage(res, attempt.returnTo, cookies, context.requestId, done);
    return sendRedirect(res, attempt.returnTo, cookies, context.requestId, done);
  }

  /** Sign in again after a stale or mismatched callback, at most MAX_RESTARTS times in a row. */
  async function restart(req: IncomingMessage, res: ServerResponse, policy: AuthPolicy, provider: Provider | null, context: GuardContext, jar: CookieJar, returnTo: string, cookies: string[], reason: string): Promise<GuardDecision> {
    const name = restartsCookieName(policy.browser!.session.cookieName);
    const count = Number(jar.get(name) ?? '0');
    if (!Number.isInteger(count) || count >= MAX_RESTARTS || provider === null) {
      cookies.push(expireCookie(name, restartsAttributes(policy, context, null)));
      const answer = browserError('SIGNIN_STATE_MISMATCH', 'This sign-in could not be completed: it does not match a sign-in started in this browser, or it expired. Open the page you wanted again to sign in; if this repeats, allow cookies for this site.');
      return sendAnswer(req, res, answer, cookies, context.requestId, log(policy, 'deny', reason));
    }
    cookies.push(setCookie(name, String(count + 1), restartsAttributes(policy, context, 120)));
    return startSignIn(req, res, policy, provider, context, jar, returnTo, cookies, reason);
  }

  // ---- Logout ---------------------------------------------------------------------------

  async function logout(req: IncomingMessage, res: ServerResponse, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<GuardDecision> {
    const jar = parseCookies(req.headers.cookie);
    const cookies: string[] = [];
    let chosen: { policy: AuthPolicy; session: Session | null } = { policy: policies[0]!, session: null };
    for (const policy of policies) {
      const keys = keysOf(policy);
      let stored = null;
      try {
        stored = await store.load(policy, keys, jar);
      } catch {
        // Redis down: the cookies still go; the server-side copy expires on its own.
      }
      if (stored !== null && chosen.session === null) chosen = { policy, session: stored.session };
      try {
        cookies.push(...(await store.destroy(policy, keys, jar, stored?.id ?? null, context.scheme)));
      } catch {
        cookies.push(...clearChunked(jar, policy.browser!.session.cookieName, sessionCookieAttributes(policy.browser!.session, context.scheme, null)));
      }
    }
    const { policy, session } = chosen;
    const provider = providerOf(policy);
    const config = provider === null ? null : clients.get(policy, provider);
    const metadata = provider?.metadata() ?? null;

    // Revoke the refresh token (and, at Cognito, the access tokens issued from it).
    if (config !== null && metadata?.revocation_endpoint !== undefined && session?.refreshToken) {
      try {
        await oidc.tokenRevocation(config, session.refreshToken, { token_type_hint: 'refresh_token' });
        logger.info({ policy: policy.key, requestId: context.requestId }, 'refresh token revoked');
      } catch (error) {
        logger.warn({ policy: policy.key, requestId: context.requestId, err: { message: (error as Error).message } }, 'refresh token revocation failed');
      }
    }

    const origin = `${context.scheme}://${context.host}`;
    const configured = policy.browser!.postLogoutRedirectURL;
    const after = configured === null ? `${origin}/` : configured.startsWith('/') ? `${origin}${configured}` : configured;
    let location = after;
    if (policy.provider === 'Cognito' && typeof metadata?.authorization_endpoint === 'string') {
      // Cognito's logout is not RP-initiated logout: /logout on the user pool domain, with
      // client_id and a registered logout_uri.
      const url = new URL('/logout', new URL(metadata.authorization_endpoint).origin);
      url.search = new URLSearchParams({ client_id: policy.clientID, logout_uri: after }).toString();
      location = url.href;
    } else if (config !== null && typeof metadata?.end_session_endpoint === 'string') {
      const params: Record<string, string> = { client_id: policy.clientID, post_logout_redirect_uri: after };
      if (session !== null) params.id_token_hint = session.idToken;
      location = oidc.buildEndSessionUrl(config, params).href;
    }
    return sendRedirect(res, location, cookies, context.requestId, log(policy, 'handled', 'SIGNED_OUT', session === null ? undefined : (jwtPayload(session.idToken)?.sub as string | undefined)));
  }

  return {
    authenticate,
    async endpoint(req, res, policies, providerOf, context) {
      const callbacks = policies.filter((policy) => policy.browser!.callbackPath === context.path);
      if (callbacks.length > 0) return callback(req, res, callbacks, providerOf, context);
      return logout(req, res, policies.filter((policy) => policy.browser!.logoutPath === context.path), providerOf, context);
    },
    sync(policies) {
      const fingerprints = new Set(policies.map((policy) => policy.fingerprint));
      for (const fingerprint of keyCache.keys()) if (!fingerprints.has(fingerprint)) keyCache.delete(fingerprint);
      clients.retain(fingerprints);
      const stores: RedisSettings[] = [];
      for (const policy of policies) {
        const sessionStore = policy.browser!.session.store;
        if (sessionStore.kind === 'Redis') stores.push(sessionStore);
      }
      redis.retain(stores);
    },
    async close() {
      await Promise.all([clients.close(), redis.close()]);
    },
  };
}

/** Refresh a little before expiry (a tenth of the token's life, at most 30 s), so the upstream gets a token that lasts. */
function needsRefresh(session: Session, nowSeconds: number): boolean {
  if (session.accessToken === null) return true;
  const payload = jwtPayload(session.accessToken);
  const lifetime = typeof payload?.iat === 'number' ? session.accessExpiresAt - payload.iat : 0;
  const margin = Math.min(30, Math.max(0, lifetime / 10));
  return nowSeconds >= session.accessExpiresAt - margin;
}

/** How often the idle timeout is moved (and so the session re-sealed): a tenth of it, at most 5 min. */
function touchInterval(idleTimeoutMs: number): number {
  return Math.min(300, idleTimeoutMs / 10_000);
}

/** The provider's own error at the callback, as a page with the right status. */
function providerError(error: string): { code: BrowserErrorCode; message: string } {
  switch (error) {
    case 'access_denied':
      return { code: 'SIGNIN_DENIED', message: 'The identity provider denied the sign-in.' };
    case 'login_required':
    case 'interaction_required':
    case 'consent_required':
    case 'account_selection_required':
      return { code: 'SIGNIN_REQUIRED_AT_PROVIDER', message: 'The identity provider needs you to sign in there first.' };
    case 'temporarily_unavailable':
      return { code: 'PROVIDER_UNAVAILABLE', message: 'The identity provider is temporarily unavailable; try again shortly.' };
    default:
      return { code: 'SIGNIN_REJECTED', message: 'The identity provider refused the sign-in request.' };
  }
}

function providerFailure(error: unknown): RefreshOutcome {
  // The provider answered no (invalid_grant, …) or sent something unacceptable: the session ends.
  if (error instanceof oidc.ResponseBodyError) return { kind: 'failed', reason: error.error };
  if (error instanceof oidc.ClientError && error.code !== undefined && !/TIMEOUT|ABORT|FETCH/i.test(error.code)) return { kind: 'failed', reason: error.code };
  // It did not answer: the session stays, and the request gets a 503.
  return { kind: 'unavailable' };
}
