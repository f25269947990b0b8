// gRPC through the proxy: recognising a call, reading its deadline, and the gRPC status our own
// answers carry. A gRPC client reads `grpc-status` and `grpc-message`, not the HTTP status, so a
// call the proxy refuses is answered as gRPC servers and Envoy answer it: `:status 200`,
// `content-type: application/grpc`, and the status in the headers of a response that ends with
// them (trailers-only).
import type { IncomingHttpHeaders } from 'node:http';

/** The gRPC status codes the proxy answers with (grpc/doc/statuscodes.md). */
export const GRPC_STATUS = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC call (`application/grpc`, `application/grpc+proto`, `application/grpc-web`, …). */
export function isGrpcRequest(headers: Readonly<Record<string, unknown>>): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.length >= 16 && type.slice(0, 16).toLowerCase() === 'application/grpc';
}

/**
 * The gRPC status of one of our answers, from its HTTP status — which the error catalogue
 * (src/model/errors.ts) fixes for each code. gRPC's own HTTP mapping (grpc/doc/http-grpc-status-mapping.md),
 * except that a timeout (504 UPSTREAM_TIMEOUT, 408) is DEADLINE_EXCEEDED, and 405 UNIMPLEMENTED:
 * no or invalid token → UNAUTHENTICATED, missing scope, group or claim → PERMISSION_DENIED, no
 * route → UNIMPLEMENTED, no healthy backend, provider not ready, upstream unreachable →
 * UNAVAILABLE.
 */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
    case 500:
      return GRPC_STATUS.INTERNAL;
    case 401:
      return GRPC_STATUS.UNAUTHENTICATED;
    case 403:
      return GRPC_STATUS.PERMISSION_DENIED;
    case 404:
    case 405:
      return GRPC_STATUS.UNIMPLEMENTED;
    case 408:
    case 504:
      return GRPC_STATUS.DEADLINE_EXCEEDED;
    case 429:
    case 502:
    case 503:
      return GRPC_STATUS.UNAVAILABLE;
    default:
      return GRPC_STATUS.UNKNOWN;
  }
}

/** `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%` (the gRPC HTTP/2 protocol). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * The call's deadline from its `grpc-timeout` header (at most 8 digits and a unit: `H M S m u n`),
 * in whole milliseconds, at least 1; null without one or when it is malformed (the upstream
 * decides then, as gRPC servers ignore a timeout they cannot read).
 */
export function grpcTimeoutMs(headers: IncomingHttpHeaders): number | null {
  const value = headers['grpc-timeout'];
  if (typeof value !== 'string' || !/^\d{1,8}[HMSmun]$/.test(value)) return null;
  const ms = Math.max(1, Math.ceil(Number(value.slice(0, -1)) * TIMEOUT_UNIT_MS[value.slice(-1)]!));
  // Longer than a timer can wait (about 24.8 days): as good as none.
  return ms > MAX_TIMER_MS ? null : ms;
}
