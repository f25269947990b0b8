// Why a token or a request was refused: stable codes, each with one HTTP status.

export const AUTH_ERRORS = {
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
  TOKEN_USE_MISMATCH: 401,
  TOKEN_CLIENT_NOT_ALLOWED: 401,
  TOKEN_AUDIENCE_MISMATCH: 401,
  // 403: a valid token without the rights (RFC 6750 insufficient_scope).
  SCOPE_MISSING: 403,
  GROUP_MISSING: 403,
  CLAIM_MISMATCH: 403,
  // 503: we cannot decide now (fail closed).
  POLICY_NOT_READY: 503,
} as const;

export type AuthErrorCode = keyof typeof AUTH_ERRORS;

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  readonly status: number;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = AUTH_ERRORS[code];
  }
}

/**
 * Why the provider's discovery document or key set could not be used: stable codes, the
 * message in a person's words, the underlying error kept as `cause`.
 */
export const PROVIDER_ERRORS = [
  // Reaching the provider.
  'URL_INVALID',
  'CONNECTION_REFUSED',
  'HOST_NOT_FOUND',
  'HOST_UNREACHABLE',
  'CONNECTION_CLOSED',
  'TIMEOUT',
  'TLS_UNTRUSTED',
  'TLS_CERTIFICATE_INVALID',
  'TLS_FAILED',
  'NETWORK',
  // What it answered.
  'REDIRECTED',
  'HTTP_UNAVAILABLE',
  'HTTP_STATUS',
  'TOO_LARGE',
  'NOT_JSON',
  // What the documents say.
  'ISSUER_MISMATCH',
  'DOCUMENT_INVALID',
  'NO_USABLE_KEY',
] as const;

export type ProviderErrorCode = (typeof PROVIDER_ERRORS)[number];

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly code: ProviderErrorCode;

  /** `message` continues a sentence (`Discovery at … failed: <message>.`): lower case first, no full stop. */
  constructor(code: ProviderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
