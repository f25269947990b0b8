// Request headers on their way upstream: identity headers are ours, forwarded headers (and a
// request id) are trusted only from configured peers.
import { randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { identityHeaderKey } from '../model/headers.ts';

export const RESERVED_HEADER_PREFIX = 'x-portcullis-';

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

/**
 * Removes every header a client could use to pose as someone: those any policy maps claims to,
 * and the reserved `X-Portcullis-*`, compared case-insensitively with `_` read as `-`.
 * Security: runs on every route, public ones too, before any identity header is set.
 */
export function stripIdentityHeaders(headers: Record<string, string | string[] | undefined>, identityHeaders: ReadonlySet<string>): void {
  for (const name of Object.keys(headers)) {
    const key = identityHeaderKey(name);
    if (key.startsWith(RESERVED_HEADER_PREFIX) || identityHeaders.has(key)) delete headers[name];
  }
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
