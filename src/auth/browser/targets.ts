// Where a browser may be sent, and which requests are navigations.
import type { GuardRequest } from '../../model/guard.ts';

/** The longest return target kept in a login attempt; longer ones fall back to "/". */
export const MAX_RETURN_TARGET = 2048;

/**
 * The target itself when it is a same-origin relative path (`/…`, not `//host`, not `/\host`, no
 * scheme, no control characters, no backslash), else null. Only such a path is ever a redirect
 * target, so no input can turn the proxy into an open redirect.
 */
export function returnTarget(target: string): string | null {
  if (target.length === 0 || target.length > MAX_RETURN_TARGET) return null;
  if (target[0] !== '/') return null;
  // "//evil" and "/\evil" are network-path references to browsers.
  if (target[1] === '/' || target[1] === '\\') return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return null;
  // Whatever a browser makes of it, it must stay on this origin.
  const base = 'http://portcullis.invalid';
  let resolved: URL;
  try {
    resolved = new URL(target, base);
  } catch {
    return null;
  }
  if (resolved.origin !== base) return null;
  return target;
}

/** The request's own path and query, as a return target (or "/" when that cannot be one). */
export function originalTarget(path: string, query: string): string {
  return returnTarget(query === '' ? path : `${path}?${query}`) ?? '/';
}

/**
 * A navigation: GET or HEAD that a browser makes to show a page. `Sec-Fetch-Mode` decides when
 * present (a fetch() asking for HTML is not a navigation); otherwise the Accept header does.
 */
export function isNavigation(request: Pick<GuardRequest, 'method' | 'headers'>): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const mode = request.headers['sec-fetch-mode'];
  if (typeof mode === 'string') return mode === 'navigate';
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}
