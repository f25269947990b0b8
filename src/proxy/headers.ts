// Request headers on their way upstream: identity headers are ours, forwarded headers (and a
// request id) are trusted only from configured peers.
import { randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { identityHeaderKey } from '../model/headers.ts';

export const RESERVED_HEADER_PREFIX = 'x-portcullis-';

/**
 * The identity headers of the well-known authenticating proxies, which an upstream written for
 * one of them believes; with our reserved `X-Portcullis-*`. A trailing `*` makes a prefix.
 */
export const WELL_KNOWN_IDENTITY_HEADERS: readonly string[] = [
  `${RESERVED_HEADER_PREFIX}*`,
  // AWS Application Load Balancer (OIDC and Cognito actions): x-amzn-oidc-data, -identity, -accesstoken.
  'x-amzn-oidc-*',
  // oauth2-proxy: --pass-user-headers, --pass-access-token, --set-xauthrequest.
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-forwarded-access-token',
  'x-auth-request-*',
  // REMOTE_USER setups (Apache, nginx auth_request, Grafana's and others' auth proxy modes).
  'remote-user',
  'x-remote-user',
  'x-remote-group',
  // Pomerium: x-pomerium-jwt-assertion, x-pomerium-claim-*.
  'x-pomerium-*',
];

/** A header name (RFC 9110 token), or a prefix of names ending in `*`. */
export const STRIPPED_HEADER_PATTERN = /^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/;

/** Headers removed from every request whatever the table: exact names and prefixes, as identityHeaderKey() writes them. */
export interface StrippedHeaders {
  readonly names: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

/**
 * The headers every request loses besides the table's identity headers: the well-known ones and
 * `extra` (`--strip-request-header`: names, or prefixes ending in `*`). Built once, at start.
 */
export function strippedHeaders(extra: readonly string[] = []): StrippedHeaders {
  const names = new Set<string>();
  const prefixes = new Set<string>();
  for (const entry of [...WELL_KNOWN_IDENTITY_HEADERS, ...extra]) {
    if (!STRIPPED_HEADER_PATTERN.test(entry)) throw new TypeError(`Not a header name or a prefix ending in *: ${JSON.stringify(entry)}.`);
    const key = identityHeaderKey(entry);
    if (key.endsWith('*')) prefixes.add(key.slice(0, -1));
    else names.add(key);
  }
  return { names, prefixes: [...prefixes] };
}

/**
 * Removes every header a client could use to pose as someone: those any policy maps claims to
 * (`identityHeaders`, the table's), and the `stripped` ones (other proxies', `X-Portcullis-*`,
 * the flag's), compared case-insensitively with `_` read as `-`. One pass over the headers.
 * Security: runs on every route, public ones too, before any identity header is set.
 */
export function stripIdentityHeaders(headers: Record<string, string | string[] | undefined>, identityHeaders: ReadonlySet<string>, stripped: StrippedHeaders): void {
  for (const name of Object.keys(headers)) {
    const key = identityHeaderKey(name);
    if (identityHeaders.has(key) || stripped.names.has(key) || hasPrefix(key, stripped.prefixes)) delete headers[name];
  }
}

function hasPrefix(key: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) if (key.startsWith(prefix)) return true;
  return false;
}

export interface TrustedPeers {
  has(address: string | undefined): boolean;
}

/** Peers (addresses or CIDR ranges) whose X-Forwarded-* and Forwarded headers are believed. */
export function trustedPeers(entries: readonly string[]): TrustedPeers {
  if (entries.length === 0) return { has: () => false };
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (isIP(address) === 0) throw new TypeError(`Not an IP address or CIDR range: ${entry}`);
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return {
    has(address) {
      if (address === undefined) return false;
      const mapped = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
      return list.check(mapped, isIP(mapped) === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

export interface ClientConnection {
  /** The TCP peer. */
  readonly peer: string | undefined;
  /** Whether the peer is a trusted proxy. */
  readonly trusted: boolean;
  /** The scheme of our listener. */
  readonly scheme: 'http' | 'https';
}

/** The scheme the client used: ours, or a trusted proxy's X-Forwarded-Proto. */
export function clientScheme(headers: Record<string, string | string[] | undefined>, connection: ClientConnection): 'http' | 'https' {
  if (connection.trusted) {
    const forwarded = firstValue(headers['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase();
    if (forwarded === 'https' || forwarded === 'http') return forwarded;
  }
  return connection.scheme;
}

/** Sets X-Forwarded-For/-Proto/-Host; from an untrusted peer, what it sent is replaced, not extended. */
export function setForwardedHeaders(headers: Record<string, string | string[] | undefined>, connection: ClientConnection, host: string | undefined): void {
  const peer = connection.peer ?? 'unknown';
  if (connection.trusted) {
    const prior = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined ? peer : `${[prior].flat().join(', ')}, ${peer}`;
    headers['x-forwarded-proto'] ??= connection.scheme;
    if (host !== undefined) headers['x-forwarded-host'] ??= host;
  } else {
    delete headers.forwarded;
    delete headers['x-real-ip'];
    headers['x-forwarded-for'] = peer;
    headers['x-forwarded-proto'] = connection.scheme;
    if (host === undefined) delete headers['x-forwarded-host'];
    else headers['x-forwarded-host'] = host;
  }
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A request id we accept from a trusted proxy: printable ASCII without spaces, at most 128 characters. */
const REQUEST_ID = /^[!-~]{1,128}$/;

/**
 * The id of one request, in our answer, the upstream's request and the access log: a trusted
 * proxy's `X-Request-Id` when it has a sane shape (so one id follows the request through both),
 * else a new one. From any other peer the header is replaced: a client must not choose the id
 * under which its request is logged.
 */
export function requestIdOf(headers: Record<string, string | string[] | undefined>, trusted: boolean): string {
  if (trusted) {
    const incoming = headers['x-request-id'];
    if (typeof incoming === 'string' && REQUEST_ID.test(incoming)) return incoming;
  }
  return randomUUID();
}
