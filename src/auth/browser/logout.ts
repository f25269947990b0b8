// Logout: the session revoked (a cookie session's id refused from now on, a Redis session deleted),
// every session cookie chunk cleared, the refresh token revoked where the provider can, then the
// provider's own logout: Cognito's /logout (client_id, logout_uri) on the domain of its
// authorization endpoint, else end_session_endpoint with id_token_hint and
// post_logout_redirect_uri, else postLogoutRedirectURL; without one, the proxy's signed-out page.
//
// Only a request from this site signs out at once; any other gets a page that asks, whose button
// is such a request. Otherwise any site could sign its visitors out with an `<img>` or a form.
import * as oidc from 'openid-client';
import { WELL_KNOWN_PAGES } from '../../model/answer.ts';
import type { AnswerDecision, GuardContext, GuardRequest } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import type { Provider } from '../provider.ts';
import { jwtPayload, type Session } from './codec.ts';
import { clearChunked, parseCookies, sessionCookieAttributes } from './cookies.ts';
import { log, type FlowKit } from './kit.ts';
import { SessionStoreUnavailable } from './redis.ts';
import { browserError, deny, providerFormOrigins, redirect } from './responses.ts';

export type Logout = (request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext) => Promise<AnswerDecision>;

export function createLogout(kit: FlowKit): Logout {
  const { logger, clients, store, keysOf } = kit;

  async function logout(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision> {
    const first = policies[0]!;
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'POST') {
      const answer = { ...browserError('METHOD_NOT_ALLOWED', 'Sign out with GET from this site, or POST.'), headers: { allow: 'GET, HEAD, POST' } };
      return deny(answer, [], log(first, 'deny', 'METHOD_NOT_ALLOWED'));
    }
    // Security: decide whether to sign out before touching the session.
    // The confirmation's form may end at the provider of any policy sharing this path (the one with a session).
    if (!fromThisSite(request, context)) return confirm(first, context, [...new Set(policies.flatMap((policy) => providerFormOrigins(providerOf(policy))))]);

    const jar = parseCookies(request.headers.cookie);
    const cookies: string[] = [];
    let chosen: { policy: AuthPolicy; session: Session | null } = { policy: first, session: null };
    for (const policy of policies) {
      const settings = policy.browser!.session;
      let session: Session | null = null;
      try {
        session = await store.revoke(policy, keysOf(policy), jar);
      } catch (error) {
        if (!(error instanceof SessionStoreUnavailable)) throw error;
        // Redis down: the cookies still go; the server-side copy expires on its own.
        logger.warn({ policy: policy.key, requestId: context.requestId }, 'the session store is unreachable: the session ends in this browser, its server-side copy when it expires');
      }
      if (session !== null && chosen.session === null) chosen = { policy, session };
      cookies.push(...clearChunked(jar, settings.cookieName, sessionCookieAttributes(settings, context.scheme, null)));
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
    // Without a destination of the policy's own, the proxy's signed-out page (register it among
    // the client's sign-out URLs at Cognito).
    const destination = configured ?? WELL_KNOWN_PAGES.signedOut;
    const after = destination.startsWith('/') ? `${origin}${destination}` : destination;
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
    return redirect(location, cookies, log(policy, 'handled', 'SIGNED_OUT', session === null ? undefined : (jwtPayload(session.idToken)?.sub as string | undefined)));
  }

  return logout;
}

/** The page that asks before signing out; its button POSTs back here, from this site. */
function confirm(policy: AuthPolicy, context: GuardContext, formOrigins: readonly string[]): AnswerDecision {
  return {
    kind: 'answer',
    answer: {
      kind: 'confirm',
      status: 200,
      title: 'Sign out?',
      message: `Do you want to sign out of ${context.host}?`,
      action: context.path,
      button: 'Sign out',
      cancel: { href: '/', label: 'Stay signed in' },
      formOrigins,
    },
    log: log(policy, 'handled', 'LOGOUT_CONFIRM'),
  };
}

/**
 * Whether a logout request comes from this site, and so may sign out at once:
 * - GET: `Sec-Fetch-Site: same-origin` (a link or script of this origin) or `none` (typed,
 *   bookmarked), and not a prefetch. Without Sec-Fetch-Site (curl, or a browser older than 2023)
 *   nothing tells where a GET came from, and an old browser would follow a cross-site `<img>`: ask.
 * - POST: `Sec-Fetch-Site: same-origin`; without it, an `Origin` of this origin. With neither it
 *   is no browser (every browser sends Origin on a cross-site POST): a script or curl, yes.
 * - HEAD: never; it shows the page it would show a GET that asks.
 * `same-site` is not enough: a sibling subdomain may belong to someone else.
 */
export function fromThisSite(request: Pick<GuardRequest, 'method' | 'headers'>, context: Pick<GuardContext, 'scheme' | 'host'>): boolean {
  const site = header(request, 'sec-fetch-site');
  if (request.method === 'GET') {
    if (/prefetch|prerender/i.test(`${header(request, 'sec-purpose') ?? ''} ${header(request, 'purpose') ?? ''}`)) return false;
    return site === 'same-origin' || site === 'none';
  }
  if (request.method !== 'POST') return false;
  if (site !== undefined) return site === 'same-origin';
  const origin = header(request, 'origin');
  return origin === undefined || sameOrigin(origin, `${context.scheme}://${context.host}`);
}

function header(request: Pick<GuardRequest, 'headers'>, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Origins compared as browsers write them (lower-case host, default port left out); "null" is no origin of ours. */
function sameOrigin(origin: string, ours: string): boolean {
  try {
    return new URL(origin).origin === new URL(ours).origin;
  } catch {
    return false;
  }
}
