// What the proxy answers by itself instead of forwarding: an error, a redirect or a page. The
// pipeline and the guard decide these as data; src/proxy/respond.ts alone writes them.
import { ERROR_STATUS, type ErrorCode } from './errors.ts';

export type Answer = ErrorAnswer | RedirectAnswer | PageAnswer | ConfirmAnswer | DocumentAnswer | IdentityAnswer | NoticeAnswer | AuthorizedAnswer;

/** The proxy's own paths for people, answered on every host before matching (docs/pages.md). */
export const WELL_KNOWN_PAGES = {
  /** Who am I: the signed-in user of this host's browser policy, as a page or JSON. */
  me: '/.well-known/portcullis/me',
  /** Starts a sign-in: `?rd=<same-origin path>`, and `&prompt=login` to ask for the account again. */
  signIn: '/.well-known/portcullis/signin',
  /** Where a sign-out ends when the policy names no postLogoutRedirectURL. */
  signedOut: '/.well-known/portcullis/signed-out',
} as const;

/**
 * What a page of ours may offer beside an error, for a person: who is signed in, and where to go
 * from here. Never part of the JSON body (APIs see the same body as ever).
 */
export interface PageContext {
  /** The signed-in user as they would recognise themselves (name or email). */
  readonly user?: string;
  /** The logout path: a POST form, from this origin. */
  readonly signOut?: string;
  /** Starts a sign-in asking for the account again (prompt=login). */
  readonly switchAccount?: string;
  /** Starts a sign-in. */
  readonly signIn?: string;
  /** Where "Try again" goes. */
  readonly tryAgain?: string;
  /**
   * Origins a form of the page may end at besides its own (the provider's logout, which the
   * sign-out form redirects to): the page's form-action policy allows them.
   */
  readonly formOrigins?: readonly string[];
}

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
  /** For the HTML page only: who is signed in, and the ways on. */
  readonly page?: PageContext;
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
  /** Origins the form's answer may redirect to (the provider's logout): see PageContext.formOrigins. */
  readonly formOrigins?: readonly string[];
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

/** What `/.well-known/portcullis/me` says of a session: never a token or a secret. */
export interface IdentitySummary {
  /** `name`, else `cognito:username` / `username`, else `preferred_username`, else `sub`. */
  readonly name: string;
  readonly subject: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly groups: readonly string[];
  /** `namespace/name` of the policy whose session this is. */
  readonly policy: string;
  /** ISO 8601 times. */
  readonly signedInAt: string;
  /** When the tokens were last issued (sign-in or refresh): the ID token's `iat`. */
  readonly refreshedAt: string | null;
  /** The earlier of the absolute and the idle timeout. */
  readonly expiresAt: string;
}

/** The signed-in user, for a person (a page with a sign-out button) or an API (JSON). */
export interface IdentityAnswer {
  readonly kind: 'identity';
  readonly status: 200;
  readonly identity: IdentitySummary;
  /** The logout path the sign-out button POSTs to. */
  readonly signOut: string;
  readonly formOrigins: readonly string[];
  readonly cookies?: readonly string[];
}

/** A page that tells something and offers links on (the signed-out page). */
export interface NoticeAnswer {
  readonly kind: 'notice';
  readonly status: 200;
  /** Above the title, small: what kind of page this is. */
  readonly eyebrow: string;
  readonly title: string;
  /** For the user: a sentence, never a secret. */
  readonly message: string;
  readonly links: readonly { readonly href: string; readonly label: string }[];
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
export function errorAnswer(code: ErrorCode, message: string, extra: Pick<ErrorAnswer, 'headers' | 'cookies' | 'page'> = {}): ErrorAnswer {
  return { kind: 'error', status: ERROR_STATUS[code], code, message, ...extra };
}
