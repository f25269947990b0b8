// What the auth runtime asks of the browser flow (issue 5). The runtime (src/auth/runtime.ts)
// owns bearer tokens, providers and the order of checks; the browser flow owns sessions, the
// authorization code flow, refresh and logout. Both decide; neither writes a response.
import type { AnswerDecision, GuardContext, GuardDecision, GuardRequest } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import type { DecisionTrace } from '../../model/trace.ts';
import type { Provider } from '../provider.ts';

export interface BrowserFlow {
  /**
   * A request without a bearer token to a rule whose policy has the browser flow on, once the
   * policy's provider is ready. Answers `allow` (a valid session: identity headers, and the
   * cookies to set when the session was refreshed or re-sealed), or an answer: a redirect to sign
   * in (navigations only, never a WebSocket handshake), 401 for a request that is not a
   * navigation, ….
   */
  authenticate(request: GuardRequest, policy: AuthPolicy, provider: Provider, context: GuardContext, trace?: DecisionTrace): Promise<GuardDecision>;

  /**
   * A request whose normalised path is the callbackPath or logoutPath of one or more browser
   * policies (`policies`, all sharing that path; the login attempt's sealed cookie tells which
   * one a callback belongs to). Always an answer: a redirect, a page, or an error.
   */
  endpoint(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision>;

  /** Drops what belongs to policies that are gone (Redis connections, …). */
  sync(policies: readonly AuthPolicy[]): void;
  close(): Promise<void>;
}
