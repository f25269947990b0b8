// The proxy's own cookies, by name. For a browser policy whose session cookieName is N:
//   N                one sealed session (or, with Redis, the sealed session id)
//   N_0, N_1, …      the same, in chunks, when one cookie would be too large; N_0 starts "<count>~"
//   N_login_<id>     one login attempt (state, nonce, PKCE verifier, return target), sealed
//   N_restarts       how often a stale callback restarted sign-in (callback path only)
// None of them reaches an upstream: sessions carry tokens, login attempts PKCE verifiers.

export const loginCookiePrefix = (name: string) => `${name}_login_`;
export const restartsCookieName = (name: string) => `${name}_restarts`;

const CHUNK = /^(\d{1,2})$/;

/** Whether `cookie` is the session cookie `name` or one of its chunks. */
export function isSessionCookie(cookie: string, name: string): boolean {
  return cookie === name || (cookie.startsWith(`${name}_`) && CHUNK.test(cookie.slice(name.length + 1)));
}

/** Whether `cookie` is one of the proxy's own for a policy whose cookieName is `name`. */
export function isProxyCookie(cookie: string, name: string): boolean {
  return isSessionCookie(cookie, name) || cookie === restartsCookieName(name) || cookie.startsWith(loginCookiePrefix(name));
}

/**
 * The Cookie header to forward upstream: the client's, minus every cookie of ours for the session
 * cookie `names` (RouteTable.proxyCookies). Null when nothing is left. With no names, the header
 * goes as it came.
 */
export function forwardedCookieHeader(header: string | string[] | undefined, names: readonly string[]): string | null {
  if (header === undefined) return null;
  if (names.length === 0) return Array.isArray(header) ? header.join('; ') : header;
  const kept: string[] = [];
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const pair of line.split(';')) {
      const trimmed = pair.trim();
      if (trimmed === '') continue;
      const eq = trimmed.indexOf('=');
      const cookie = eq < 0 ? trimmed : trimmed.slice(0, eq).trim();
      if (!names.some((name) => isProxyCookie(cookie, name))) kept.push(trimmed);
    }
  }
  return kept.length === 0 ? null : kept.join('; ');
}
