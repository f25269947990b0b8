// Why a token or a request was refused: stable codes, each with one HTTP status (in the one
// catalogue, src/model/errors.ts).
import { ERROR_STATUS, type ErrorCodes } from '../model/errors.ts';

export type AuthErrorCode = ErrorCodes<
  | 'MULTIPLE_AUTHORIZATION_HEADERS'
  | 'TOKEN_MISSING'
  | 'TOKEN_MALFORMED'
  | 'TOKEN_TOO_LARGE'
  | 'TOKEN_ALG_NOT_ALLOWED'
  | 'TOKEN_ISSUER_MISMATCH'
  | 'TOKEN_KID_UNKNOWN'
  | 'TOKEN_KEY_UNUSABLE'
  | 'TOKEN_SIGNATURE_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_ISSUED_IN_FUTURE'
  | 'TOKEN_USE_MISMATCH'
  | 'TOKEN_CLIENT_NOT_ALLOWED'
  | 'TOKEN_AUDIENCE_MISMATCH'
  | 'SCOPE_MISSING'
  | 'GROUP_MISSING'
  | 'CLAIM_MISMATCH'
  | 'EMAIL_NOT_VERIFIED'
  | 'RULE_DENIED'
  | 'POLICY_NOT_READY'
  | 'ASSERTION_KEY_UNAVAILABLE'
>;

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  readonly status: number;
  /** RULE_DENIED: the name of the rule that refused. */
  readonly rule?: string;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown; rule?: string }) {
    super(message, options);
    this.code = code;
    this.status = ERROR_STATUS[code];
    if (options?.rule !== undefined) this.rule = options.rule;
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
