// What the auth runtime asks of the browser flow (issue 5). The runtime (src/auth/runtime.ts)
// owns bearer tokens, providers and the order of checks; the browser flow owns sessions, the
// authorization code flow, refresh and logout.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthPolicy } from '../../model/policy.ts';
import type { GuardContext, GuardDecision } from '../../proxy/guard.ts';
import type { Provider } from '../provider.ts';

export interface BrowserFlow {
  /**
   * A request without a bearer token to a rule whose policy has the browser flow on, once the
   * policy's provider is ready. Answers `allow` (a valid session: identity headers, and
   * Set-Cookie in responseHeaders when the session was refreshed or re-sealed), `handled` (a
   * redirect to sign in was written to `res`), or `answer` (401 for a request that is not a
   * navigation, …). `res` is null for a WebSocket handshake: never redirect then.
   */
  authenticate(req: IncomingMessage, res: ServerResponse | null, policy: AuthPolicy, provider: Provider, context: GuardContext): Promise<GuardDecision>;

  /**
   * A request whose normalised path is the callbackPath or logoutPath of one or more browser
   * policies (`policies`, all sharing that path; the login attempt's sealed cookie tells which
   * one a callback belongs to). Always writes the response itself (`handled`) or answers.
   */
  endpoint(req: IncomingMessage, res: ServerResponse, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<GuardDecision>;

  /** Drops what belongs to policies that are gone (Redis connections, …). */
  sync(policies: readonly AuthPolicy[]): void;
  close(): Promise<void>;
}
