// The policy gate between matching and forwarding. The auth runtime implements it; the
// pipeline only knows this contract.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthPolicy } from '../model/policy.ts';
import type { ErrorAnswer } from './errors.ts';

export interface GuardContext {
  readonly requestId: string;
  /** The scheme the client used (ours, or a trusted proxy's). */
  readonly scheme: 'http' | 'https';
  /** The Host header as the client sent it (with port). */
  readonly host: string;
  /** The normalised path and query the client asked for. */
  readonly path: string;
  readonly query: string;
  /** True for a WebSocket handshake: no redirects, no cookies can be set. */
  readonly upgrade: boolean;
}

/** What the access log records of a decision; never a token or a secret. */
export interface DecisionLog {
  readonly policy: string;
  readonly decision: 'allow' | 'deny' | 'redirect' | 'handled';
  /** For an answer with a body, its `code` (what the client saw); else why (TOKEN_VALID, SESSION_MISSING, …). */
  readonly reason: string;
  /** Behind an answer's code, the more precise why, when it differs (SESSION_EXPIRED behind SESSION_REQUIRED). */
  readonly cause?: string;
  readonly sub?: string;
  readonly clientId?: string;
}

export type GuardDecision =
  | {
      readonly kind: 'allow';
      /** Identity headers to set upstream (lower-case names), after the client's were stripped. */
      readonly identity: Readonly<Record<string, string>>;
      /** The Authorization header to send upstream, or null to send none. */
      readonly authorization: string | null;
      /** Response headers to add (a refreshed session's cookies). */
      readonly responseHeaders: Readonly<Record<string, string | string[]>>;
      /**
       * The Cookie header to send upstream in place of the client's (the browser flow removes its
       * own session and login cookies), null to send none; absent leaves the client's as it is.
       */
      readonly cookie?: string | null;
      readonly log: DecisionLog;
    }
  | { readonly kind: 'answer'; readonly answer: ErrorAnswer; readonly log: DecisionLog }
  /** The guard wrote the response itself (a redirect to sign in, the callback, logout). */
  | { readonly kind: 'handled'; readonly status: number; readonly log: DecisionLog };

export interface Guard {
  /** A request to a rule protected by `policy`. */
  check(req: IncomingMessage, res: ServerResponse | null, policy: AuthPolicy, context: GuardContext): Promise<GuardDecision>;
  /** A request to a browser policy's callback or logout path (see RouteTable.authEndpoints). */
  endpoint(req: IncomingMessage, res: ServerResponse, policies: readonly AuthPolicy[], context: GuardContext): Promise<GuardDecision>;
  /**
   * The client's Cookie header without the proxy's own cookies (browser sessions, login attempts),
   * for requests whose decision did not set `cookie` (public rules, bearer-only policies); null
   * when nothing is left. Absent: cookies are forwarded as they came.
   */
  forwardedCookie?(header: string | string[] | undefined): string | null;
}
