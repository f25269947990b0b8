// HTTP/2 connections from clients: the limits each one gets, and what the proxy does to one that
// abuses them. One connection multiplexes many requests, so one client can ask for a lot with
// little: these bound what a single connection costs.
//
// - Concurrent streams: SETTINGS_MAX_CONCURRENT_STREAMS (Node's default is unlimited).
// - Header lists: SETTINGS_MAX_HEADER_LIST_SIZE, the same bound as an HTTP/1.1 request head.
// - Memory: Node's maxSessionMemory; past it, new streams are refused.
// - Rapid reset (CVE-2023-44487): streams opened and reset at once cost the server work and the
//   client nothing. nghttp2 (≥ 1.57, in Node ≥ 18.18) rate-limits RST_STREAM with a burst of
//   1,000; on top of that, a connection that resets more streams than `maxResetsPerSecond` (on
//   average, with a burst of as many) is closed with GOAWAY (ENHANCE_YOUR_CALM).
// - CONTINUATION flood (CVE-2024-27316): nghttp2 ≥ 1.61 (Node ≥ 18.20.1) refuses a header block
//   in more than 8 CONTINUATION frames; header lists are bounded besides.
import { constants, type Http2Session, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';

export interface Http2Limits {
  /** Streams open at once on one connection. Default 128, as nginx. */
  readonly maxConcurrentStreams: number;
  /** The largest header list (uncompressed), in bytes. */
  readonly maxHeaderListSize: number;
  /** Memory one connection may use, in MiB, before new streams are refused. Default 10, Node's. */
  readonly maxSessionMemoryMiB: number;
  /** Streams a client may reset per second on one connection, on average; past it, GOAWAY. Default 100. */
  readonly maxResetsPerSecond: number;
}

export const DEFAULT_HTTP2_LIMITS: Omit<Http2Limits, 'maxHeaderListSize'> = { maxConcurrentStreams: 128, maxSessionMemoryMiB: 10, maxResetsPerSecond: 100 };

/** node:http2 server options for these limits. */
export function http2ServerOptions(limits: Http2Limits): { settings: { maxConcurrentStreams: number; maxHeaderListSize: number }; maxSessionMemory: number; maxHeaderListPairs: number } {
  return {
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize },
    maxSessionMemory: limits.maxSessionMemoryMiB,
    // Node's default (128 pairs, 4 of them pseudo-headers) is small for a browser with cookies split into many.
    maxHeaderListPairs: 256,
  };
}

/**
 * Watches one client connection's stream resets: a token bucket of `maxResetsPerSecond` tokens,
 * refilled at that rate; a stream the client resets before its answer was complete takes one.
 * With none left, the connection is closed with GOAWAY (ENHANCE_YOUR_CALM) and cut.
 */
export function guardResets(session: ServerHttp2Session, maxResetsPerSecond: number, now: () => number = () => performance.now()): void {
  let tokens = maxResetsPerSecond;
  let refilled = now();
  session.on('stream', (stream: ServerHttp2Stream) => {
    stream.once('aborted', () => {
      const at = now();
      tokens = Math.min(maxResetsPerSecond, tokens + ((at - refilled) / 1000) * maxResetsPerSecond);
      refilled = at;
      tokens -= 1;
      if (tokens < 0 && !session.destroyed) closeAbusive(session);
    });
  });
}

function closeAbusive(session: Http2Session): void {
  session.destroy(new Error('Too many stream resets.'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
}
