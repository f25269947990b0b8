// Every stable code the proxy answers (or logs) with, and its one HTTP status. Modules name
// their own subsets as types (ErrorCodes<…>); a code missing here does not compile there.

export const ERROR_STATUS = {
  // The request target, refused by the normaliser: the client's fault.
  TARGET_INVALID: 400,
  TARGET_NOT_ROUTABLE: 400,
  TARGET_ENCODED_SLASH: 400,
  TARGET_BACKSLASH: 400,
  TARGET_NUL: 400,
  TARGET_PATH_PARAMETERS: 400,
  TARGET_TRAVERSAL: 400,
  TARGET_DOUBLE_ENCODING: 400,
  TARGET_BAD_PERCENT_ENCODING: 400,
  HOST_MISSING: 400,
  HOST_INVALID: 400,
  HOST_MISMATCH: 400,
  HOST_DUPLICATE: 400,
  /** The request cannot be forwarded as sent (a header value the HTTP client refuses, a bad upgrade). */
  REQUEST_INVALID: 400,

  // Routing.
  NOT_FOUND: 404,
  // A rule that answers by itself (compile: fail closed; see RespondAction).
  POLICY_NOT_FOUND: 503,
  POLICY_INVALID: 503,
  BACKEND_UNRESOLVED: 503,
  NO_BACKENDS: 503,
  RULE_INVALID: 503,
  /** The rule names a ClusterOIDCPolicy whose namespaceSelector does not select the Route's namespace. */
  POLICY_NOT_PERMITTED: 503,
  /** A public rule in a namespace whose default ClusterOIDCPolicy allows no public routes. */
  PUBLIC_NOT_ALLOWED: 503,
  NO_HEALTHY_BACKEND: 503,
  /** A rule of `mode: AuthOnly`: it answers forward-auth checks, and has no backend to forward to. */
  AUTH_ONLY: 503,

  // The forward-auth listener (--auth-listen): a check for a request another proxy describes.
  /** No Route matches the described request: refused (fail closed) unless --auth-default-allow. */
  NO_ROUTE: 403,
  /** The check came from a peer not in --trust-proxy: its description of a request is not believed. */
  PEER_NOT_TRUSTED: 403,
  /** The check does not describe the original request as the listener's convention says, or two of its headers disagree. */
  CHECK_INVALID: 400,
  /** /.well-known/portcullis/start: rd is not a path or URL of this host that a browser policy serves. */
  SIGNIN_TARGET_INVALID: 400,

  // Forwarding (src/proxy/forward/).
  UPSTREAM_CONNECT_FAILED: 502,
  UPSTREAM_RESET: 502,
  UPSTREAM_BAD_RESPONSE: 502,
  UPSTREAM_TIMEOUT: 504,
  /** Every connection to the origin was busy, and its queue full or the wait too long: nothing was sent. */
  UPSTREAM_BUSY: 503,
  /** The client sent nothing of its body for longer than the client body timeout. */
  CLIENT_BODY_TIMEOUT: 408,
  /** The client read nothing of the response for longer than the send timeout: for logs only, the response had started. */
  CLIENT_SEND_TIMEOUT: 408,
  /** The caller aborted the exchange for a reason other than a timeout (e.g. shutdown). */
  FORWARD_ABORTED: 503,
  /** nginx's "client closed request": for logs only, nobody is left to answer. */
  CLIENT_CLOSED: 499,

  // Bearer tokens and the policy's rules (src/auth/).
  // 400: the request itself is malformed.
  MULTIPLE_AUTHORIZATION_HEADERS: 400,
  // 401: no token, or a token we cannot accept (RFC 6750 invalid_token).
  TOKEN_MISSING: 401,
  TOKEN_MALFORMED: 401,
  TOKEN_TOO_LARGE: 401,
  TOKEN_ALG_NOT_ALLOWED: 401,
  TOKEN_ISSUER_MISMATCH: 401,
  TOKEN_KID_UNKNOWN: 401,
  TOKEN_KEY_UNUSABLE: 401,
  TOKEN_SIGNATURE_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  /** `iat` later than now plus the clock skew: minted by a clock far ahead, or forged. */
  TOKEN_ISSUED_IN_FUTURE: 401,
  TOKEN_USE_MISMATCH: 401,
  TOKEN_CLIENT_NOT_ALLOWED: 401,
  TOKEN_AUDIENCE_MISMATCH: 401,
  // 403: a valid token without the rights (RFC 6750 insufficient_scope).
  SCOPE_MISSING: 403,
  GROUP_MISSING: 403,
  CLAIM_MISMATCH: 403,
  /** A claim rule on `email`, and the provider has not verified the address. */
  EMAIL_NOT_VERIFIED: 403,
  /** One of the policy's CEL rules (spec.authorization.rules) is not true for this request, or could not be evaluated. */
  RULE_DENIED: 403,
  // 503: the policy's provider has not answered: we cannot decide now (fail closed).
  POLICY_NOT_READY: 503,
  // 503: no key to sign X-Portcullis-Assertion with yet (its Secret not read): fail closed.
  ASSERTION_KEY_UNAVAILABLE: 503,

  // The browser flow (src/auth/browser/).
  SESSION_REQUIRED: 401,
  SIGNIN_DENIED: 403,
  SIGNIN_REQUIRED_AT_PROVIDER: 401,
  SIGNIN_REJECTED: 502,
  SIGNIN_STATE_MISMATCH: 400,
  SIGNIN_FAILED: 502,
  SESSION_TOO_LARGE: 500,
  SESSION_STORE_UNAVAILABLE: 503,
  PROVIDER_UNAVAILABLE: 503,
  METHOD_NOT_ALLOWED: 405,

  // The process.
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** A module's own codes, named as a type: every one must be in the catalogue. */
export type ErrorCodes<T extends ErrorCode> = T;
