// The policy gate between matching and forwarding. The auth runtime implements it; the proxy
// pipeline calls it. It decides and never writes: what it returns is data, and the proxy acts on
// it (src/proxy/pipeline.ts) and writes every answer (src/proxy/respond.ts).
import type { Answer } from './answer.ts';
import type { AuthPolicy } from './policy.ts';
import type { DecisionTrace } from './trace.ts';

/** The request as the guard sees it. */
export interface GuardRequest {
  readonly method: string;
  /** The client's headers (lower-case names), its identity headers already removed. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** How many Authorization headers the client sent: `headers` keeps the first only. */
  readonly authorizationCount: number;
}

export interface GuardContext {
  readonly requestId: string;
  /** The scheme the client used (ours, or a trusted proxy's). */
  readonly scheme: 'http' | 'https';
  /** The Host header as the client sent it (with port). */
  readonly host: string;
  /** The host normalised as matching saw it: lower case, no port, no trailing dot. */
  readonly hostname: string;
  /** `namespace/name` of the Route matched; null for the paths answered before matching. */
  readonly route: string | null;
  /** The normalised path and query the client asked for. */
  readonly path: string;
  readonly query: string;
  /** True for a WebSocket handshake: no redirects; a refusal sets no cookies. */
  readonly upgrade: boolean;
}

/** What the access log records of a decision; never a token or a secret. */
export interface DecisionLog {
  readonly policy: string;
  readonly decision: 'allow' | 'deny' | 'redirect' | 'handled';
  /**
   * Why (TOKEN_VALID, SESSION_MISSING, …). For a denial, the pipeline logs the answer's code
   * here (what the client saw) and this finer reason as `cause`, when they differ.
   */
  readonly reason: string;
  readonly sub?: string;
  readonly clientId?: string;
}

/**
 * Who called, as the upstream is told: from verified claims only (a bearer token's, or the
 * tokens sealed in a session).
 */
export interface Caller {
  readonly auth: 'session' | 'bearer';
  readonly sub: string | null;
  /** Only an address the provider verified (`email_verified` true or "true"). */
  readonly email: string | null;
  /** `cognito:groups` (or `groups`). */
  readonly groups: readonly string[];
  readonly clientId: string | null;
  /** A bearer token's granted scope (space-separated); null for sessions. */
  readonly scope: string | null;
}

export interface AllowDecision {
  readonly kind: 'allow';
  /** Identity headers to set upstream (lower-case names), after the client's were stripped. */
  readonly identity: Readonly<Record<string, string>>;
  /** The caller; null when nobody signed in (`unauthenticated: Allow`, a CORS preflight). */
  readonly caller: Caller | null;
  /** The Authorization header to send upstream, or null to send none. */
  readonly authorization: string | null;
  /** Set-Cookie lines for the upstream's answer (a refreshed or re-sealed session). */
  readonly cookies: readonly string[];
  readonly log: DecisionLog;
}

/** The request ends here, with `answer` (a denial, a redirect to sign in, the callback's page). */
export interface AnswerDecision {
  readonly kind: 'answer';
  readonly answer: Answer;
  readonly log: DecisionLog;
}

export type GuardDecision = AllowDecision | AnswerDecision;

export interface Guard {
  /** A request to a rule protected by `policy`; `trace` (portcullis explain) records each check made. */
  check(request: GuardRequest, policy: AuthPolicy, context: GuardContext, trace?: DecisionTrace): Promise<GuardDecision>;
  /** A request to a browser policy's callback or logout path (see RouteTable.authEndpoints). */
  endpoint(request: GuardRequest, policies: readonly AuthPolicy[], context: GuardContext): Promise<AnswerDecision>;
}
