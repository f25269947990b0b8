// Signing in: the authorization request (PKCE S256, state, nonce, one sealed cookie per
// attempt) and the callback (the attempt found by its state, the code exchanged, the ID token
// verified, the session stored). A callback that finishes no sign-in of this browser, or that the
// provider refused, is a page with "Try again".
import * as oidc from 'openid-client';
import type { ErrorAnswer } from '../../model/answer.ts';
import { loginCookiePrefix, restartsCookieName } from '../../model/cookies.ts';
import type { AnswerDecision, GuardContext, GuardRequest } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import { AuthError } from '../errors.ts';
import { describeEndpointFailure } from '../fetcher.ts';
import { unavailableMessage, type Provider } from '../provider.ts';
import { decodeAttempt, encodeAttempt, newSessionId, type LoginAttempt, type Session } from './codec.ts';
import { expireCookie, parseCookies, setCookie, type CookieJar } from './cookies.ts';
import { ATTEMPT_ID_LENGTH, ATTEMPT_TTL_SECONDS, attemptAttributes, log, MAX_ATTEMPTS, restartsAttributes, type FlowKit } from './kit.ts';
import { signInLink } from './me.ts';
import { SessionStoreUnavailable } from './redis.ts';
import { browserError, continuePage, deny, redirect, type BrowserErrorCode } from './responses.ts';
import { seal, unseal } from './seal.ts';
import { SessionTooLarge } from './sessions.ts';
import { accessExpiry, grantedScope, verifyAccessToken, verifyIdToken } from './tokens.ts';

export interface SignIn {
  /**
   * Redirects to the provider; `cookies` are set (or cleared) on the way. `prompt: 'login'` asks
   * the provider for the account again, whatever session it holds ("sign in as someone else";
   * Cognito's managed login honours it too).
   */
  start(policy: AuthPolicy, provider: Provider, context: GuardContext, jar: CookieJar, returnTo: string, cookies: string[], reason: string, prompt?: 'login' | null): Promise<AnswerDecision>;
  /** A request to the callback path of `policies`. */
  callback(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision>;
}

export function createSignIn(kit: FlowKit): SignIn {
  const { logger, now, seconds, clients, store, keysOf } = kit;

  async function start(policy: AuthPolicy, provider: Provider, context: GuardContext, jar: CookieJar, returnTo: string, cookies: string[], reason: string, prompt: 'login' | null = null): Promise<AnswerDecision> {
    const config = clients.get(policy, provider);
    if (config === null) return deny(browserError('PROVIDER_UNAVAILABLE', unavailableMessage(provider)), cookies, log(policy, 'deny', 'PROVIDER_UNAVAILABLE'));
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
      ...(prompt === null ? {} : { prompt }),
    });
    return redirect(url.href, cookies, log(policy, 'redirect', reason));
  }

  async function callback(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision> {
    const first = policies[0]!;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return deny(browserError('METHOD_NOT_ALLOWED', 'The sign-in callback takes GET requests only.'), [], log(first, 'deny', 'METHOD_NOT_ALLOWED'));
    }
    const params = new URLSearchParams(context.query);
    const state = params.get('state') ?? '';
    const jar = parseCookies(request.headers.cookie);

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
      if (error !== null) return deny(tryAgain(providerError(error), '/'), [], log(first, 'deny', 'PROVIDER_ERROR'));
      return mismatch(first, context, jar, '/', [], 'STATE_MISMATCH');
    }

    const { policy, attempt } = found;
    const cookies = [expireCookie(found.cookie, attemptAttributes(policy, context, null))];
    const provider = providerOf(policy);
    if (attempt.createdAt + ATTEMPT_TTL_SECONDS < seconds()) return mismatch(policy, context, jar, attempt.returnTo, cookies, 'ATTEMPT_EXPIRED');

    const error = params.get('error');
    if (error !== null) {
      const refusal = providerError(error);
      logger.info({ policy: policy.key, requestId: context.requestId, error: error.slice(0, 64) }, 'the provider refused the sign-in');
      return deny(tryAgain(refusal, attempt.returnTo), cookies, log(policy, 'deny', refusal.code));
    }
    const config = provider === null ? null : clients.get(policy, provider);
    if (provider === null || config === null) {
      return deny(tryAgain({ code: 'PROVIDER_UNAVAILABLE', message: unavailableMessage(provider) }, attempt.returnTo), cookies, log(policy, 'deny', 'PROVIDER_UNAVAILABLE'));
    }

    const currentURL = new URL(attempt.redirectURI);
    currentURL.search = context.query;
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, currentURL, { pkceCodeVerifier: attempt.codeVerifier, expectedState: attempt.state, expectedNonce: attempt.nonce, idTokenExpected: true });
    } catch (error) {
      // A code already used or expired (a reload, the back button): start again, a bounded number of times.
      if (error instanceof oidc.ResponseBodyError && error.error === 'invalid_grant') return mismatch(policy, context, jar, attempt.returnTo, cookies, 'CODE_REJECTED');
      logger.warn({ policy: policy.key, requestId: context.requestId, err: describeEndpointFailure(error, config.serverMetadata().token_endpoint) }, 'code exchange failed');
      return deny(tryAgain({ code: 'SIGNIN_FAILED', message: 'The identity provider did not complete the sign-in.' }, attempt.returnTo), cookies, log(policy, 'deny', 'CODE_EXCHANGE_FAILED'));
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
      return deny(tryAgain({ code: 'SIGNIN_REJECTED', message: 'The identity provider answered with tokens that cannot be accepted.' }, attempt.returnTo), cookies, log(policy, 'deny', error.code));
    }

    const session: Session = {
      id: newSessionId(),
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
      if (error instanceof SessionStoreUnavailable) return deny(browserError('SESSION_STORE_UNAVAILABLE', 'The session store is unreachable; try again shortly.'), cookies, log(policy, 'deny', 'SESSION_STORE_UNAVAILABLE', sub));
      if (error instanceof SessionTooLarge) return deny(browserError('SESSION_TOO_LARGE', error.message), cookies, log(policy, 'deny', 'SESSION_TOO_LARGE', sub));
      throw error;
    }
    if (jar.has(restartsCookieName(policy.browser!.session.cookieName))) cookies.push(expireCookie(restartsCookieName(policy.browser!.session.cookieName), restartsAttributes(policy, context, null)));
    const done = log(policy, 'handled', 'SIGNED_IN', sub);
    if (policy.browser!.session.sameSite === 'Strict') return continuePage(attempt.returnTo, cookies, done);
    return redirect(attempt.returnTo, cookies, done);
  }

  /**
   * A callback that finishes no sign-in of this browser (forged, replayed, or expired): a page that
   * says so, with "Try again", rather than a silent new sign-in — a forged link must not be able to
   * send people round the provider. The restart counter of earlier versions is cleared.
   */
  function mismatch(policy: AuthPolicy, context: GuardContext, jar: CookieJar, returnTo: string, cookies: string[], reason: string): AnswerDecision {
    const name = restartsCookieName(policy.browser!.session.cookieName);
    if (jar.has(name)) cookies.push(expireCookie(name, restartsAttributes(policy, context, null)));
    const message = 'This sign-in does not match a sign-in started in this browser, or it expired. Try again; if this repeats, allow cookies for this site.';
    return deny(tryAgain({ code: 'SIGNIN_STATE_MISMATCH', message }, returnTo), cookies, log(policy, 'deny', reason));
  }

  return { start, callback };
}

/** An error of the sign-in with "Try again": a new sign-in, back to where the person was going. */
function tryAgain(refusal: { code: BrowserErrorCode; message: string }, returnTo: string): ErrorAnswer {
  return { ...browserError(refusal.code, refusal.message), page: { tryAgain: signInLink(returnTo, false) } };
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
