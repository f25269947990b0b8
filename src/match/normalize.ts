// The "One path" invariant: the request target is normalised once, here, and the result is
// both what the matcher sees and what the upstream receives. Pure functions, no I/O.
//
// Decisions that are ours (RFC 3986 leaves them open):
// - Runs of `/` are merged into one. Keeping `//admin` would let it miss a `/admin` rule and
//   reach an upstream that merges slashes itself (most frameworks do); merging means the
//   upstream receives exactly the path that was matched.
// - Double encoding: after decoding unreserved characters once, a remaining `%25` followed by
//   the encoding of `.`, `/`, `\`, `;` or NUL (`%252e`, `%25%32%65`, `%25252f`, …) is refused:
//   an upstream that decodes twice would otherwise see a traversal or a separator that we did
//   not. Any other `%25` is kept (a literal percent sign is legitimate data).
// - `;` is refused raw and encoded (`%3B`): servers that strip path parameters after decoding
//   (`/public/..%3B/admin`) would otherwise see a different path than we matched.
// - Characters that are not allowed in a path but are harmless (`"<>[]^`{|}` and non-ASCII)
//   are percent-encoded (upper-case hex), so the normalised path is always valid RFC 3986.
// - The query is kept as sent (only control characters, spaces and `#` are refused, and
//   non-ASCII characters are percent-encoded); it is parsed by the matcher when a rule needs it.

import { isIPv6 } from 'node:net';

export type TargetErrorCode =
  | 'TARGET_INVALID'
  | 'TARGET_NOT_ROUTABLE'
  | 'TARGET_ENCODED_SLASH'
  | 'TARGET_BACKSLASH'
  | 'TARGET_NUL'
  | 'TARGET_PATH_PARAMETERS'
  | 'TARGET_TRAVERSAL'
  | 'TARGET_DOUBLE_ENCODING'
  | 'TARGET_BAD_PERCENT_ENCODING'
  | 'HOST_MISSING'
  | 'HOST_INVALID'
  | 'HOST_MISMATCH'
  | 'HOST_DUPLICATE';

/** Every refusal here is the client's fault and answers `400 Bad Request`. */
export const NORMALIZE_ERROR_STATUS = 400;

export interface NormalizeError {
  readonly ok: false;
  readonly code: TargetErrorCode;
  readonly status: typeof NORMALIZE_ERROR_STATUS;
  readonly message: string;
}

export interface NormalizedTarget {
  readonly ok: true;
  /** Normalised path, starting with `/`, without the query. */
  readonly path: string;
  /** The query without `?`; empty when there is none. */
  readonly query: string;
  /** Normalised host: lower case, no port, no trailing dot; IPv6 literals in brackets. */
  readonly host: string;
}

export interface NormalizedHost {
  readonly ok: true;
  readonly host: string;
  /** The port as written, or null when none was given. */
  readonly port: number | null;
}

export type NormalizedPath = { readonly ok: true; readonly path: string } | NormalizeError;

function refuse(code: TargetErrorCode, message: string): NormalizeError {
  return { ok: false, code, status: NORMALIZE_ERROR_STATUS, message };
}

/**
 * Normalises a request target (`req.url`) and the `Host` header into what is matched and
 * forwarded. Accepts origin-form (`/path?query`) and absolute-form (`http://host/path`, whose
 * authority must agree with `Host`); refuses everything else.
 */
export function normalizeTarget(rawUrl: string, hostHeader: string | undefined): NormalizedTarget | NormalizeError {
  let pathAndQuery: string;
  let host: string;

  if (rawUrl.charCodeAt(0) === SLASH) {
    if (hostHeader === undefined) return refuse('HOST_MISSING', 'The request has no Host header.');
    const parsed = normalizeHost(hostHeader);
    if (!parsed.ok) return parsed;
    host = parsed.host;
    pathAndQuery = rawUrl;
  } else if (rawUrl === '*') {
    return refuse('TARGET_NOT_ROUTABLE', 'The asterisk-form target (OPTIONS *) is not routable.');
  } else {
    const absolute = splitAbsoluteForm(rawUrl);
    if (!absolute.ok) return absolute;
    const authority = normalizeHost(absolute.authority);
    if (!authority.ok) return refuse('TARGET_INVALID', `The authority of the absolute-form target is invalid: ${authority.message}`);
    if (hostHeader !== undefined) {
      const header = normalizeHost(hostHeader);
      if (!header.ok) return header;
      const defaultPort = absolute.scheme === 'https' ? 443 : 80;
      if (header.host !== authority.host || (header.port ?? defaultPort) !== (authority.port ?? defaultPort)) {
        return refuse('HOST_MISMATCH', 'The authority of the absolute-form target does not agree with the Host header.');
      }
    }
    host = authority.host;
    pathAndQuery = absolute.pathAndQuery;
  }

  const q = pathAndQuery.indexOf('?');
  const rawPath = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  const rawQuery = q === -1 ? '' : pathAndQuery.slice(q + 1);

  const path = normalizePath(rawPath);
  if (!path.ok) return path;
  const query = normalizeQuery(rawQuery);
  if (query === null) return refuse('TARGET_INVALID', 'The query contains a control character, a space or a fragment.');
  return { ok: true, path: path.path, query, host };
}

// --- path -------------------------------------------------------------------------------

const SLASH = 0x2f;
const PERCENT = 0x25;

/**
 * Already-normal paths: every segment non-empty, not starting with `.`, made only of
 * characters that need no work. Most requests take this branch and allocate nothing.
 */
const NORMAL_PATH = /^(?:\/[A-Za-z0-9\-_~!$&'()*+,=:@][A-Za-z0-9\-._~!$&'()*+,=:@]*)*\/?$/;

/** Double encoding that survives our single decode: `%25`, any `25`s, then `.`, `/`, `\`, `;` or NUL. */
const DOUBLE_ENCODED = /%25(?:25)*(?:2e|2f|5c|3b|00)/i;

const HEX = '0123456789ABCDEF';

/**
 * Normalises an origin-form path (no query): percent-decodes unreserved characters,
 * upper-cases the hex of the other escapes, merges `//`, removes dot segments, and refuses
 * what the "One path" invariant forbids. Also usable for paths written in Route manifests.
 */
export function normalizePath(rawPath: string): NormalizedPath {
  if (rawPath.charCodeAt(0) !== SLASH) return refuse('TARGET_INVALID', 'The request target must start with "/".');
  if (NORMAL_PATH.test(rawPath)) return { ok: true, path: rawPath };

  const decoded = decodeUnreserved(rawPath);
  if (typeof decoded !== 'string') return decoded;
  if (DOUBLE_ENCODED.test(decoded)) {
    return refuse('TARGET_DOUBLE_ENCODING', 'The path contains a double-encoded ".", "/", "\\", ";" or NUL.');
  }
  return removeDotSegments(decoded.replace(/\/{2,}/g, '/'));
}

function decodeUnreserved(raw: string): string | NormalizeError {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === PERCENT) {
      const byte = hexByte(raw, i + 1);
      if (byte === -1) return refuse('TARGET_BAD_PERCENT_ENCODING', 'The path contains an invalid percent-encoding.');
      i += 2;
      if (isUnreserved(byte)) out += String.fromCharCode(byte);
      else if (byte === 0x2f) return refuse('TARGET_ENCODED_SLASH', 'The path contains an encoded slash (%2F).');
      else if (byte === 0x5c) return refuse('TARGET_BACKSLASH', 'The path contains a backslash.');
      else if (byte === 0x00) return refuse('TARGET_NUL', 'The path contains a NUL character.');
      else if (byte === 0x3b) return refuse('TARGET_PATH_PARAMETERS', 'The path contains ";" path parameters.');
      else out += '%' + HEX[byte >> 4] + HEX[byte & 15];
      continue;
    }
    if (c === 0x5c) return refuse('TARGET_BACKSLASH', 'The path contains a backslash.');
    if (c === 0x00) return refuse('TARGET_NUL', 'The path contains a NUL character.');
    if (c === 0x3b) return refuse('TARGET_PATH_PARAMETERS', 'The path contains ";" path parameters.');
    if (c === 0x23) return refuse('TARGET_INVALID', 'The request target contains a fragment ("#").');
    if (c <= 0x20 || c === 0x7f) return refuse('TARGET_INVALID', 'The path contains a control character or a space.');
    if (c < 0x80 && isPathChar(c)) out += raw[i];
    else if (c < 0x80) out += '%' + HEX[c >> 4] + HEX[c & 15];
    else {
      // Not reachable through Node's HTTP parser (it refuses raw non-ASCII bytes), but a
      // caller may hand us a decoded string: encode it as UTF-8, one code point at a time.
      const cp = raw.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      out += percentEncodeUtf8(String.fromCodePoint(cp));
    }
  }
  return out;
}

function removeDotSegments(path: string): NormalizedPath {
  if (!path.includes('/.')) return { ok: true, path };
  const segments = path.slice(1).split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '..') {
      if (out.length === 0) return refuse('TARGET_TRAVERSAL', 'The path climbs above the root with "..".');
      out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return { ok: true, path: '/' + out.join('/') };
}

function hexByte(s: string, at: number): number {
  const hi = hexDigit(s.charCodeAt(at));
  const lo = hexDigit(s.charCodeAt(at + 1));
  return hi === -1 || lo === -1 ? -1 : (hi << 4) | lo;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 unreserved: ALPHA DIGIT - . _ ~ */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
  );
}

/** pchar and `/`, less `%` and `;` (handled apart): unreserved, sub-delims, `:`, `@`. */
function isPathChar(c: number): boolean {
  return isUnreserved(c) || c === SLASH || c === 0x3a || c === 0x40 || c === 0x21 || c === 0x24 ||
    (c >= 0x26 && c <= 0x2c) || c === 0x3d;
}

function percentEncodeUtf8(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) out += '%' + HEX[byte >> 4] + HEX[byte & 15];
  return out;
}

// --- query ------------------------------------------------------------------------------

/** Anything but printable ASCII, or `#`. */
const QUERY_NEEDS_WORK = /[^\x21\x22\x24-\x7e]/;

function normalizeQuery(raw: string): string | null {
  if (!QUERY_NEEDS_WORK.test(raw)) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x23) return null;
    if (c < 0x80) out += raw[i];
    else {
      const cp = raw.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      out += percentEncodeUtf8(String.fromCodePoint(cp));
    }
  }
  return out;
}

// --- absolute form and hosts ------------------------------------------------------------

type AbsoluteForm =
  | { readonly ok: true; readonly scheme: 'http' | 'https'; readonly authority: string; readonly pathAndQuery: string }
  | NormalizeError;

function splitAbsoluteForm(rawUrl: string): AbsoluteForm {
  const match = /^(https?):\/\/([^/?#]*)(.*)$/is.exec(rawUrl);
  if (match === null) {
    return refuse('TARGET_INVALID', 'The request target must be a path starting with "/" or an absolute http(s) URL.');
  }
  const [, scheme = '', authority = '', rest = ''] = match;
  if (authority.includes('@')) return refuse('TARGET_INVALID', 'The absolute-form target must not contain user information.');
  const pathAndQuery = rest === '' ? '/' : rest.charCodeAt(0) === SLASH ? rest : '/' + rest;
  return { ok: true, scheme: scheme.toLowerCase() === 'https' ? 'https' : 'http', authority, pathAndQuery };
}

/**
 * The request's one `Host` header, from its raw headers (`[name, value, …]`, as sent): Node keeps
 * the first of several in `headers.host`, and a proxy behind or in front of us may read another.
 * More than one is refused (RFC 9112 §3.2: 400); undefined when there is none.
 */
export function singleHostHeader(rawHeaders: readonly string[]): string | undefined | NormalizeError {
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (host !== undefined) return refuse('HOST_DUPLICATE', 'The request has more than one Host header.');
    host = rawHeaders[i + 1]!;
  }
  return host;
}

const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const LABEL_TOO_LONG = /[^.]{64}/;

/**
 * Normalises a `Host` header (or an authority): lower case, port and one trailing dot
 * removed, IPv6 literals kept in brackets in their canonical form. Refuses empty hosts and
 * characters outside letters, digits, `-`, `_` and `.`.
 */
export function normalizeHost(raw: string): NormalizedHost | NormalizeError {
  let name: string;
  let portText: string | null = null;

  if (raw.charCodeAt(0) === 0x5b /* [ */) {
    const close = raw.indexOf(']');
    if (close === -1) return refuse('HOST_INVALID', 'The host has an unterminated IPv6 literal.');
    const literal = raw.slice(1, close);
    const after = raw.slice(close + 1);
    if (after !== '') {
      if (after.charCodeAt(0) !== 0x3a /* : */) return refuse('HOST_INVALID', 'The host has characters after its IPv6 literal.');
      portText = after.slice(1);
    }
    // Zone identifiers (`%25eth0`) name an interface of the client: never a routable host.
    if (literal.includes('%') || !isIPv6(literal)) return refuse('HOST_INVALID', 'The host is not a valid IPv6 literal.');
    name = new URL(`http://[${literal}]/`).hostname;
  } else {
    const colon = raw.indexOf(':');
    if (colon !== -1) {
      if (raw.indexOf(':', colon + 1) !== -1) return refuse('HOST_INVALID', 'The host has more than one ":" (IPv6 literals need brackets).');
      portText = raw.slice(colon + 1);
      name = raw.slice(0, colon);
    } else {
      name = raw;
    }
    name = name.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (name === '') return refuse('HOST_INVALID', 'The host is empty.');
    if (name.length > 253 || !HOST_NAME.test(name) || LABEL_TOO_LONG.test(name)) {
      return refuse('HOST_INVALID', 'The host contains characters other than letters, digits, "-", "_" and ".", an empty label, or is too long.');
    }
  }

  let port: number | null = null;
  if (portText !== null && portText !== '') {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) return refuse('HOST_INVALID', 'The port of the host is invalid.');
    port = Number(portText);
  }
  return { ok: true, host: name, port };
}
