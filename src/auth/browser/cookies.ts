// The proxy's own cookies: reading the Cookie header, writing Set-Cookie lines, and splitting a
// sealed session into numbered chunks. Their names, and their removal before forwarding, are in
// src/model/cookies.ts.
import { isSessionCookie } from '../../model/cookies.ts';
import type { SessionSettings } from '../../model/policy.ts';

/**
 * The longest `name=value` of one cookie. Browsers keep at least 4096 bytes of name and value
 * (RFC 6265 §6.1; Chrome and Firefox count exactly that); a little is left for safety.
 */
export const MAX_COOKIE_BYTES = 4000;
/** More chunks than this and the session is refused: the Cookie header would outgrow the proxy's limit. */
export const MAX_CHUNKS = 12;

export type CookieJar = ReadonlyMap<string, string>;

/** The request's cookies by name; the first of several with one name wins (the most specific path). */
export function parseCookies(header: string | string[] | undefined): CookieJar {
  const jar = new Map<string, string>();
  if (header === undefined) return jar;
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      if (name !== '' && !jar.has(name)) jar.set(name, pair.slice(eq + 1).trim());
    }
  }
  return jar;
}

export interface CookieAttributes {
  readonly path: string;
  readonly domain: string | null;
  readonly secure: boolean;
  readonly sameSite: 'Lax' | 'Strict' | 'None';
  /** Seconds; 0 expires the cookie now; null makes a browser-session cookie. */
  readonly maxAge: number | null;
}

export function setCookie(name: string, value: string, attributes: CookieAttributes): string {
  let line = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.domain !== null) line += `; Domain=${attributes.domain}`;
  if (attributes.maxAge !== null) line += `; Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`;
  if (attributes.maxAge === 0) line += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  line += '; HttpOnly';
  if (attributes.secure) line += '; Secure';
  line += `; SameSite=${attributes.sameSite}`;
  return line;
}

export function expireCookie(name: string, attributes: Omit<CookieAttributes, 'maxAge'>): string {
  return setCookie(name, '', { ...attributes, maxAge: 0 });
}

/** The attributes of the session cookie for this request. */
export function sessionCookieAttributes(session: SessionSettings, scheme: 'http' | 'https', maxAge: number | null): CookieAttributes {
  const secure = session.secure ?? scheme === 'https';
  return { path: '/', domain: session.cookieDomain, secure, sameSite: session.sameSite, maxAge };
}

/** The session cookie's names present in the jar: the whole one and every chunk. */
export function sessionCookieNames(jar: CookieJar, name: string): string[] {
  return [...jar.keys()].filter((candidate) => isSessionCookie(candidate, name));
}

/**
 * The sealed value, reassembled: the whole cookie, or chunks 0 … count-1 where chunk 0 says the
 * count. Missing or extra pieces give a value that does not unseal, never a partial session.
 */
export function readChunked(jar: CookieJar, name: string): string | null {
  const whole = jar.get(name);
  if (whole !== undefined && whole !== '') return whole;
  const first = jar.get(`${name}_0`);
  if (first === undefined) return null;
  const tilde = first.indexOf('~');
  const count = Number(first.slice(0, tilde));
  if (tilde < 1 || !Number.isInteger(count) || count < 1 || count > MAX_CHUNKS) return null;
  let value = first.slice(tilde + 1);
  for (let i = 1; i < count; i++) {
    const chunk = jar.get(`${name}_${i}`);
    if (chunk === undefined) return null;
    value += chunk;
  }
  return value;
}

/**
 * Set-Cookie lines that store `value` under `name`: one cookie when it fits, numbered chunks when
 * not; every other piece the request presented is expired, so no stale chunk outlives a write.
 * Null when the value needs more than MAX_CHUNKS cookies.
 */
export function writeChunked(jar: CookieJar, name: string, value: string, attributes: CookieAttributes): string[] | null {
  const pieces = splitValue(name, value);
  if (pieces === null) return null;
  const lines: string[] = [];
  const written = new Set<string>();
  for (const [cookieName, cookieValue] of pieces) {
    written.add(cookieName);
    lines.push(setCookie(cookieName, cookieValue, attributes));
  }
  for (const present of sessionCookieNames(jar, name)) if (!written.has(present)) lines.push(expireCookie(present, attributes));
  return lines;
}

/** Expires every piece of the session cookie that the request presented. */
export function clearChunked(jar: CookieJar, name: string, attributes: Omit<CookieAttributes, 'maxAge'>): string[] {
  return sessionCookieNames(jar, name).map((present) => expireCookie(present, attributes));
}

export function splitValue(name: string, value: string): (readonly [string, string])[] | null {
  if (name.length + 1 + value.length <= MAX_COOKIE_BYTES) return [[name, value]];
  // Each chunk's name is `${name}_NN` at most; chunk 0 also carries "NN~".
  const room = MAX_COOKIE_BYTES - (name.length + 4) - 1;
  const count = Math.ceil((value.length + 3) / room);
  if (count > MAX_CHUNKS) return null;
  const pieces: (readonly [string, string])[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const prefix = i === 0 ? `${count}~` : '';
    const take = room - prefix.length;
    pieces.push([`${name}_${i}`, prefix + value.slice(offset, offset + take)]);
    offset += take;
  }
  return pieces;
}
