// The compiled, read-only routing table. Built by compile/, read by the proxy on every request.
import type { HttpMethod } from '../api/route.ts';
import type { ErrorCodes } from './errors.ts';
import type { AuthPolicy } from './policy.ts';

export type PathType = 'Exact' | 'PathPrefix' | 'RegularExpression';

/** Answers that a rule gives by itself, without an upstream (fail closed). */
export type RuleErrorCode = ErrorCodes<'POLICY_NOT_FOUND' | 'POLICY_INVALID' | 'BACKEND_UNRESOLVED' | 'NO_BACKENDS' | 'RULE_INVALID' | 'POLICY_NOT_PERMITTED' | 'PUBLIC_NOT_ALLOWED'>;

export interface Endpoint {
  /** `http://10.0.0.7:8080` — scheme, host and port only. */
  readonly origin: string;
  /** Cleartext HTTP/2 with prior knowledge (`appProtocol: kubernetes.io/h2c`); absent for HTTP/1.1 (and for https, which negotiates). */
  readonly h2c?: true;
}

export interface Upstream {
  /** Where it came from: `url:https://httpbin.org` or `service:default/echo:80`. */
  readonly key: string;
  readonly weight: number;
  readonly endpoints: readonly Endpoint[];
}

export interface Rewrite {
  readonly path: { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly value: string } | null;
  readonly hostname: string | null;
}

export interface ForwardAction {
  readonly kind: 'forward';
  /** Backends with a weight above zero; at least one. */
  readonly upstreams: readonly Upstream[];
  /** The policy protecting the rule; null only for a public rule. */
  readonly policy: AuthPolicy | null;
  readonly timeouts: { readonly requestMs: number | null; readonly backendRequestMs: number | null };
  readonly rewrite: Rewrite | null;
}

/**
 * A rule of `mode: AuthOnly`: it has no backend. Forward-auth checks (--auth-listen) use its
 * matching and policy; proxied requests to it are answered 503 AUTH_ONLY.
 */
export interface AuthOnlyAction {
  readonly kind: 'authOnly';
  /** The policy protecting the rule; null only for a public rule. */
  readonly policy: AuthPolicy | null;
}

export interface RespondAction {
  readonly kind: 'respond';
  readonly status: 503;
  readonly code: RuleErrorCode;
  readonly message: string;
}

export interface RouteRef {
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name`: the Route's name in metrics and messages. */
  readonly key: string;
  /** Milliseconds since the epoch; null when unknown (standalone mode). */
  readonly createdAt: number | null;
}

/** A compiled regular expression that must match the whole input (RE2: linear time). */
export interface Pattern {
  test(input: string): boolean;
}

export interface ValueMatch {
  /** Lower-case header name, or the query parameter's name as written. */
  readonly name: string;
  readonly type: 'Exact' | 'RegularExpression';
  readonly value: string;
  /** Set for RegularExpression matches. */
  readonly pattern: Pattern | null;
}

/** One match of one rule of one Route: the unit the matcher orders and tests. */
export interface CompiledRule {
  /** `namespace/name/rules[i]/matches[j]`: stable, for logs and tests. */
  readonly id: string;
  readonly route: RouteRef;
  readonly ruleIndex: number;
  readonly matchIndex: number;
  /** Normalised hostnames this rule answers for; empty for any host. */
  readonly hostnames: readonly string[];
  readonly path: { readonly type: PathType; readonly value: string; readonly pattern: Pattern | null };
  readonly method: HttpMethod | null;
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
  /** Route.spec.tls.redirectHTTP: on plain HTTP, answer with a redirect to HTTPS. */
  readonly httpsRedirect: boolean;
  readonly action: ForwardAction | AuthOnlyAction | RespondAction;
}

/** A certificate a Route's `tls.secretRef` names, for the HTTPS listener's SNI. */
export interface ServingCertificate {
  /** `namespace/name` of the Secret. */
  readonly secret: string;
  readonly cert: string;
  readonly key: string;
  /** Changes when the certificate or key does: TLS contexts are cached on it. */
  readonly fingerprint: string;
}

export interface MatchRequest {
  /** Normalised host: lower case, no port, no trailing dot. */
  readonly host: string;
  /** Normalised path, without the query. */
  readonly path: string;
  readonly method: string;
  /** Node's header object: lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The raw query string, without `?`; parsed only when a rule needs it. */
  readonly query: string;
}

export interface Matcher {
  match(request: MatchRequest): CompiledRule | null;
}

export interface RouteTable {
  /** Every compiled rule, in precedence order within each host group. */
  readonly rules: readonly CompiledRule[];
  /** Compiled policies by `namespace/name`; only those that compiled. */
  readonly policies: ReadonlyMap<string, AuthPolicy>;
  /**
   * Every header name that any policy maps a claim to (lower case, `_` read as `-`), whether
   * or not the policy compiled: stripped from every incoming request on every route.
   */
  readonly identityHeaders: ReadonlySet<string>;
  /**
   * The browser flow's own paths (each browser policy's callbackPath and logoutPath) → the
   * policies that use that path. These are answered by the proxy on every host, before matching.
   */
  readonly authEndpoints: ReadonlyMap<string, readonly AuthPolicy[]>;
  /**
   * The session cookie names of the browser policies in force: these cookies, their chunks and
   * their login attempts (src/model/cookies.ts) are removed from every request before forwarding.
   */
  readonly proxyCookies: readonly string[];
  /**
   * Certificates by hostname as Routes write them (`api.example.com`, `*.example.com`); `*` for
   * a Route without hostnames (the default when no name matches).
   */
  readonly certificates: ReadonlyMap<string, ServingCertificate>;
  readonly matcher: Matcher;
}
