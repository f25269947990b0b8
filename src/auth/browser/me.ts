// The browser flow's pages for people (docs/pages.md): who am I (`/.well-known/portcullis/me`),
// and the sign-in start that the pages link to (`/.well-known/portcullis/signin?rd=…`, with
// `prompt=login` for "sign in as someone else"). Both are answered before matching, on every
// host that a browser policy serves; the pipeline hands over that host's browser policies, the
// one protecting the return target first.
import { errorAnswer, WELL_KNOWN_PAGES, type IdentitySummary, type PageContext } from '../../model/answer.ts';
import type { AnswerDecision, GuardContext, GuardRequest } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import { emailVerified, listClaim } from '../authorize.ts';
import type { Provider } from '../provider.ts';
import type { Claims } from '../verify.ts';
import { jwtPayload, type Session } from './codec.ts';
import { clearChunked, parseCookies, sessionCookieAttributes } from './cookies.ts';
import { log, type FlowKit } from './kit.ts';
import { fromThisSite } from './logout.ts';
import { SessionStoreUnavailable } from './redis.ts';
import { browserError, deny, providerFormOrigins } from './responses.ts';
import type { SignIn } from './signin.ts';
import { returnTarget } from './targets.ts';
import { sessionClaims } from './tokens.ts';

export interface PersonalPages {
  /** `/.well-known/portcullis/me`: the first of `policies` with a session in this browser. */
  me(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision>;
  /** `/.well-known/portcullis/signin`: a sign-in with the first of `policies`, back to `rd`. */
  signIn(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision>;
}

export function createPersonalPages(kit: FlowKit, signIn: SignIn): PersonalPages {
  const { store, keysOf, seconds } = kit;

  return {
    async me(request, policies, providerOf) {
      const first = policies[0]!;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return deny({ ...browserError('METHOD_NOT_ALLOWED', 'This page is read with GET.'), headers: { allow: 'GET, HEAD' } }, [], log(first, 'deny', 'METHOD_NOT_ALLOWED'));
      }
      const jar = parseCookies(request.headers.cookie);
      const nowSeconds = seconds();
      for (const policy of policies) {
        let loaded;
        try {
          loaded = await store.load(policy, keysOf(policy), jar);
        } catch (error) {
          if (!(error instanceof SessionStoreUnavailable)) throw error;
          return deny(browserError('SESSION_STORE_UNAVAILABLE', 'The session store is unreachable; try again shortly.'), [], log(policy, 'deny', 'SESSION_STORE_UNAVAILABLE'));
        }
        if (loaded.session === null) continue;
        const identity = summarize(loaded.session, policy, nowSeconds);
        if (identity === null) continue; // timed out: the next protected request ends it
        return {
          kind: 'answer',
          answer: { kind: 'identity', status: 200, identity, signOut: policy.browser!.logoutPath, formOrigins: [...new Set(policies.flatMap((held) => providerFormOrigins(providerOf(held))))] },
          log: log(policy, 'handled', 'WHO_AM_I', identity.subject),
        };
      }
      // No session: 401, with a way to sign in for a person (JSON as for any other 401).
      const answer = errorAnswer('SESSION_REQUIRED', 'You are not signed in on this site.', { page: { signIn: signInLink(WELL_KNOWN_PAGES.me, false) } });
      return deny(answer, [], log(first, 'deny', 'SESSION_MISSING'));
    },

    async signIn(request, policies, providerOf, context) {
      const policy = policies[0]!;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return deny({ ...browserError('METHOD_NOT_ALLOWED', 'Sign-in starts with GET.'), headers: { allow: 'GET, HEAD' } }, [], log(policy, 'deny', 'METHOD_NOT_ALLOWED'));
      }
      const params = new URLSearchParams(context.query);
      // Security: only a same-origin path is ever a place to return to (no open redirect).
      const rd = returnTarget(params.get('rd') ?? '/') ?? '/';
      const prompt = params.get('prompt') === 'login' ? 'login' : null;
      const provider = providerOf(policy);
      if (provider === null) return deny(browserError('PROVIDER_UNAVAILABLE', 'The identity provider of this site has not answered yet; try again shortly.'), [], log(policy, 'deny', 'PROVIDER_UNAVAILABLE'));
      const jar = parseCookies(request.headers.cookie);
      if (prompt === null) return signIn.start(policy, provider, context, jar, rd, [], 'SIGNIN_REQUESTED');
      // Another account: the sessions this browser holds on this host end first, so that no page
      // of the host goes on in the old name (each is revoked, as at logout). Security: only for a
      // request from this site (the 403 page's link), as at logout; otherwise any site could
      // sign its visitors out with an <img> of this URL. From elsewhere, only the sign-in starts.
      const cookies: string[] = [];
      for (const held of fromThisSite(request, context) ? policies : []) {
        const settings = held.browser!.session;
        try {
          await store.revoke(held, keysOf(held), jar);
        } catch (error) {
          if (!(error instanceof SessionStoreUnavailable)) throw error;
          kit.logger.warn({ policy: held.key, requestId: context.requestId }, 'the session store is unreachable: the session ends in this browser, its server-side copy when it expires');
        }
        cookies.push(...clearChunked(jar, settings.cookieName, sessionCookieAttributes(settings, context.scheme, null)));
      }
      return signIn.start(policy, provider, context, jar, rd, cookies, 'SWITCH_ACCOUNT', prompt);
    },
  };
}

/** The sign-in start for a return target; `switchAccount` asks the provider for the account again. */
export function signInLink(returnTo: string, switchAccount: boolean): string {
  const query = new URLSearchParams({ rd: returnTo });
  if (switchAccount) query.set('prompt', 'login');
  return `${WELL_KNOWN_PAGES.signIn}?${query.toString()}`;
}

/** The 403 page of a signed-in user: who they are, sign out, sign in as someone else. */
export function refusedContext(claims: Claims, policy: AuthPolicy, provider: Provider, returnTo: string): PageContext {
  return { user: displayName(claims), signOut: policy.browser!.logoutPath, switchAccount: signInLink(returnTo, true), formOrigins: providerFormOrigins(provider) };
}

/** How a person recognises themselves: a name, else the user name, else the email, else the subject. */
export function displayName(claims: Claims): string {
  for (const key of ['name', 'cognito:username', 'username', 'preferred_username', 'email', 'sub']) {
    const value = claims[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return 'unknown user';
}

/** What the session says of its user, or null when it has timed out. */
function summarize(session: Session, policy: AuthPolicy, nowSeconds: number): IdentitySummary | null {
  const settings = policy.browser!.session;
  const expiresAt = Math.min(session.createdAt + settings.absoluteTimeoutMs / 1000, session.touchedAt + settings.idleTimeoutMs / 1000);
  if (nowSeconds >= expiresAt) return null;
  const claims = sessionClaims(session, policy);
  const issued = [jwtPayload(session.idToken)?.iat, jwtPayload(session.accessToken)?.iat].filter((iat): iat is number => typeof iat === 'number');
  const email = typeof claims.email === 'string' && claims.email !== '' ? claims.email : null;
  return {
    name: displayName(claims),
    subject: typeof claims.sub === 'string' ? claims.sub : '',
    email,
    emailVerified: email !== null && emailVerified(claims),
    groups: listClaim(claims['cognito:groups'] ?? claims.groups),
    policy: policy.key,
    signedInAt: iso(session.createdAt),
    refreshedAt: issued.length === 0 ? null : iso(Math.max(...issued)),
    expiresAt: iso(expiresAt),
  };
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
