// The browser flow's answers, as data: an error with the cookies to set or clear, a redirect, or
// the page that continues after sign-in. The proxy writes them (src/proxy/respond.ts).
import { errorAnswer, type ErrorAnswer } from '../../model/answer.ts';
import type { ErrorCodes } from '../../model/errors.ts';
import type { AnswerDecision, DecisionLog } from '../../model/guard.ts';
import type { Provider } from '../provider.ts';

/** Codes of the browser flow's own answers (statuses in src/model/errors.ts). */
export type BrowserErrorCode = ErrorCodes<
  | 'SESSION_REQUIRED'
  | 'SIGNIN_DENIED'
  | 'SIGNIN_REQUIRED_AT_PROVIDER'
  | 'SIGNIN_REJECTED'
  | 'SIGNIN_STATE_MISMATCH'
  | 'SIGNIN_FAILED'
  | 'SESSION_TOO_LARGE'
  | 'SESSION_STORE_UNAVAILABLE'
  | 'PROVIDER_UNAVAILABLE'
  | 'METHOD_NOT_ALLOWED'
>;

export function browserError(code: BrowserErrorCode, message: string): ErrorAnswer {
  return errorAnswer(code, message);
}

/**
 * An answer with a body; `cookies` are set (or cleared) with it. The access log's reason becomes
 * the body's code, the flow's finer reason its cause (see the pipeline's recordAnswer).
 */
export function deny(answer: ErrorAnswer, cookies: readonly string[], log: DecisionLog): AnswerDecision {
  return { kind: 'answer', answer: cookies.length > 0 ? { ...answer, cookies } : answer, log };
}

export function redirect(location: string, cookies: readonly string[], log: DecisionLog): AnswerDecision {
  return { kind: 'answer', answer: { kind: 'redirect', status: 302, location, cookies }, log };
}

/**
 * Back to the return target through a page of our own rather than a 302: with SameSite=Strict a
 * browser withholds the new session cookie on a redirect chain that began at the provider, and
 * the user would be sent to sign in again. A navigation started by this page is same-site.
 */
export function continuePage(location: string, cookies: readonly string[], log: DecisionLog): AnswerDecision {
  return { kind: 'answer', answer: { kind: 'page', status: 200, title: 'Signed in', next: location, cookies }, log };
}

/**
 * Where the sign-out form's answer may lead besides this origin: the provider's logout (Cognito's
 * /logout on the origin of its authorization endpoint, or end_session_endpoint).
 */
export function providerFormOrigins(provider: Provider | null): string[] {
  const metadata = provider?.metadata() ?? null;
  const origins = new Set<string>();
  for (const endpoint of [metadata?.authorization_endpoint, metadata?.end_session_endpoint]) {
    if (typeof endpoint !== 'string') continue;
    try {
      origins.add(new URL(endpoint).origin);
    } catch {
      // not a URL: nothing to allow
    }
  }
  return [...origins];
}
