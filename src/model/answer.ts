// What the proxy answers by itself instead of forwarding: an error, a redirect or a page. The
// pipeline and the guard decide these as data; src/proxy/respond.ts alone writes them.
import { ERROR_STATUS, type ErrorCode } from './errors.ts';

export type Answer = ErrorAnswer | RedirectAnswer | PageAnswer | ConfirmAnswer | DocumentAnswer | AuthorizedAnswer;

/** JSON for API clients, a small HTML page for browsers; the body carries the code. */
export interface ErrorAnswer {
  readonly kind: 'error';
  readonly status: number;
  readonly code: ErrorCode;
  /** For the client: a sentence, never a secret. */
  readonly message: string;
  /** Extra response headers, e.g. WWW-Authenticate. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Set-Cookie lines. */
  readonly cookies?: readonly string[];
}

export interface RedirectAnswer {
  readonly kind: 'redirect';
  /** 302 (sign-in, callback, logout) or 308 (to HTTPS). */
  readonly status: 302 | 308;
  readonly location: string;
  readonly cookies?: readonly string[];
}

/** A page of ours that sends the browser on to `next` (see signin.ts for why not a redirect). */
export interface PageAnswer {
  readonly kind: 'page';
  readonly status: 200;
  /** The page's title, and its first words. */
  readonly title: string;
  readonly next: string;
  readonly cookies?: readonly string[];
}

/**
 * A page of ours that asks before acting (logout from another site): a button that POSTs an empty
 * form to `action`, a path of this origin, and a link to leave instead. No other site may frame
 * it, so none can trick a click on it.
 */
export interface ConfirmAnswer {
  readonly kind: 'confirm';
  readonly status: 200;
  /** The page's title and heading. */
  readonly title: string;
  /** For the user: a sentence, never a secret. */
  readonly message: string;
  readonly action: string;
  /** The button's label. */
  readonly button: string;
  /** Where the link to leave goes, and its label. */
  readonly cancel: { readonly href: string; readonly label: string };
  readonly cookies?: readonly string[];
}

/** A document of the proxy's own, served as it is (the assertion keys' JWKS). */
export interface DocumentAnswer {
  readonly kind: 'document';
  readonly status: 200;
  readonly contentType: string;
  readonly body: string;
  readonly cookies?: readonly string[];
}

/**
 * A forward-auth check allowed (src/proxy/auth-listener.ts): 200 without a body; the identity
 * headers and the signed assertion are response headers, which the calling proxy copies onto the
 * request it forwards.
 */
export interface AuthorizedAnswer {
  readonly kind: 'authorized';
  readonly status: 200;
  readonly headers: Readonly<Record<string, string>>;
  readonly cookies?: readonly string[];
}

/** An error answer with the catalogue's status for `code`. */
export function errorAnswer(code: ErrorCode, message: string, extra: Pick<ErrorAnswer, 'headers' | 'cookies'> = {}): ErrorAnswer {
  return { kind: 'error', status: ERROR_STATUS[code], code, message, ...extra };
}
