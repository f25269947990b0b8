// Hop-by-hop headers describe one connection, not the message (RFC 9110 §7.6.1): they are
// removed in both directions, together with every header the sender named in `Connection`.
import type { IncomingHttpHeaders } from 'node:http';
import { isProxyCookie } from '../../model/cookies.ts';
import { isGrpcRequest } from '../h2/grpc.ts';
import type { UpstreamHeaders } from './types.ts';

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Lower-case names listed in `Connection` values (less `close` and `keep-alive`); null when none. */
export function connectionTokens(values: string | readonly string[] | undefined): Set<string> | null {
  if (values === undefined || values === 'keep-alive' || values === 'close') return null; // nearly every request
  let tokens: Set<string> | null = null;
  for (const value of typeof values === 'string' ? [values] : values) {
    for (const raw of value.split(',')) {
      const token = raw.trim().toLowerCase();
      if (token === '' || token === 'close' || token === 'keep-alive') continue;
      (tokens ??= new Set()).add(token);
    }
  }
  return tokens;
}

export function isHopByHop(lowerCaseName: string, named: ReadonlySet<string> | null): boolean {
  return HOP_BY_HOP.has(lowerCaseName) || (named !== null && named.has(lowerCaseName));
}

/**
 * Where the caller starts preparing upstream headers: a copy of the client's headers without
 * hop-by-hop headers, without those the client named in `Connection`, and without HTTP/2's
 * pseudo-headers (`:authority`, `:path`, …: the upstream request gets its own). A gRPC call's
 * `TE: trailers` stays (gRPC servers may require it, and it is the one `TE` HTTP/2 allows): the
 * proxy relays its trailers.
 *
 * Security: apply this *before* setting identity headers. The forwarder removes what the
 * prepared `Connection` names, so a client sending `Connection: x-user-email` would otherwise
 * get the identity header we set removed on the way out.
 */
export function headersFromClient(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionTokens(headers.connection);
  const copy: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 0x3a /* : */) continue;
    if (isHopByHop(name, named)) {
      if (name === 'te' && isGrpcRequest(headers) && wantsTrailers(value)) copy.te = 'trailers';
      continue;
    }
    copy[name] = value;
  }
  return copy;
}

/** True when a `TE` value lists `trailers`. */
function wantsTrailers(value: string | string[]): boolean {
  return (typeof value === 'string' ? value : value.join(',')).split(',').some((token) => token.trim().toLowerCase() === 'trailers');
}

/**
 * The prepared request headers as a flat `[name, value, …]` list for undici, without
 * hop-by-hop headers (but a gRPC call's `TE: trailers`), without those named in the prepared `Connection`, and without `Expect`
 * (the forwarder answers `100 Continue` to the client itself, and undici refuses the header).
 */
export function upstreamRequestHeaders(headers: UpstreamHeaders): string[] {
  // One pass; what the prepared `Connection` names (rarely anything) is taken out after it.
  let connection: string | readonly string[] | undefined;
  const flat: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'connection') connection = value;
    if (lower === 'expect' || (HOP_BY_HOP.has(lower) && !(lower === 'te' && value === 'trailers' && isGrpcRequest(headers)))) continue;
    if (typeof value === 'string') flat.push(name, value);
    else for (const item of value) flat.push(name, item);
  }
  const named = connectionTokens(connection);
  if (named === null) return flat;
  const kept: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (!named.has(flat[i]!.toLowerCase())) kept.push(flat[i]!, flat[i + 1]!);
  return kept;
}

/**
 * The upstream's raw response headers (`[name, value, …]`, as undici read them) without
 * hop-by-hop headers, as a flat list for `res.writeHead`: repeated headers (Set-Cookie)
 * stay separate, names keep their case, values their bytes (latin1). With `requestId`, it is
 * the answer's `X-Request-Id`, replacing the upstream's: the client sees the id we logged.
 * Set-Cookie lines for the proxy's own cookies (`proxyCookies`, the table's session cookie
 * names) are removed.
 */
export function downstreamResponseHeaders(raw: readonly (Buffer | string)[], requestId?: string, proxyCookies: readonly string[] = []): string[] {
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]);
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const tokens = connectionTokens(latin1(raw[i + 1]));
      if (tokens !== null) named = named === null ? tokens : new Set([...named, ...tokens]);
    }
  }
  const flat: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]);
    const lower = name.toLowerCase();
    if (isHopByHop(lower, named) || (requestId !== undefined && lower === 'x-request-id')) continue;
    const value = latin1(raw[i + 1]);
    if (proxyCookies.length > 0 && lower === 'set-cookie' && setsProxyCookie(value, proxyCookies)) continue;
    flat.push(name, value);
  }
  if (requestId !== undefined) flat.push('x-request-id', requestId);
  return flat;
}

/**
 * Whether a Set-Cookie line sets (or clears) one of the proxy's own cookies for the session cookie
 * `names`: its session, chunks, login attempts (src/model/cookies.ts). Security: an upstream
 * must not choose a browser's session with us, nor end it; what it names, it does not get.
 * A line without `=` is read as a name, as the Cookie header's reader here reads it.
 */
export function setsProxyCookie(line: string, names: readonly string[]): boolean {
  const semicolon = line.indexOf(';');
  const pair = semicolon === -1 ? line : line.slice(0, semicolon);
  const eq = pair.indexOf('=');
  const cookie = (eq === -1 ? pair : pair.slice(0, eq)).trim();
  return names.some((name) => isProxyCookie(cookie, name));
}

/**
 * Response headers as undici hands them: a flat `[name, value, …]` list over HTTP/1.1, an object
 * over HTTP/2 (repeated headers as arrays). Either way, the flat list.
 */
export function flatResponseHeaders(raw: unknown): readonly (Buffer | string)[] {
  if (Array.isArray(raw)) return raw as (Buffer | string)[];
  if (raw === null || typeof raw !== 'object') return [];
  const flat: string[] = [];
  for (const name of Object.keys(raw)) {
    const value = (raw as Record<string, unknown>)[name];
    if (Array.isArray(value)) for (const item of value) flat.push(name, String(item));
    else if (value !== undefined) flat.push(name, String(value));
  }
  return flat;
}

/**
 * Never relayed as trailers: what describes a connection or a message's framing (RFC 9110
 * §6.5.1), and what the proxy decides in the head. Security: `Set-Cookie` above all — trailers
 * with no body before them join the head (gRPC's trailers-only form), where an upstream's
 * Set-Cookie must pass setsProxyCookie(); it has no business in trailers.
 */
const NEVER_IN_TRAILERS: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length', 'host', 'set-cookie', 'x-request-id']);

/** The upstream's trailers that go on to the client: without pseudo-headers and NEVER_IN_TRAILERS. */
export function relayedTrailers(trailers: Readonly<Record<string, string | string[] | undefined>> | null | undefined): Record<string, string | string[]> {
  const relayed: Record<string, string | string[]> = {};
  for (const name of Object.keys(trailers ?? {})) {
    const value = trailers![name];
    if (value !== undefined && name.charCodeAt(0) !== 0x3a && !NEVER_IN_TRAILERS.has(name.toLowerCase())) relayed[name] = value;
  }
  return relayed;
}

function latin1(value: Buffer | string | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.toString('latin1');
}
