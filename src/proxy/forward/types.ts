// The forwarding contract: how the proxy pipeline hands a request to an upstream, and what
// it learns back. One implementation today (undici, see undici-forwarder.ts); the pipeline
// only knows this file.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_STATUS, type ErrorCodes } from '../../model/errors.ts';

/** Statuses are in the one catalogue (src/model/errors.ts); 499 is for logs only. */
export type ForwardErrorCode = ErrorCodes<
  /** No connection could be made (refused, unreachable, connect timeout, TLS failure): nothing was sent. */
  | 'UPSTREAM_CONNECT_FAILED'
  /** The response head, or the next chunk of its body, took longer than allowed; or the caller's signal timed out. */
  | 'UPSTREAM_TIMEOUT'
  /** The connection broke after the request started. */
  | 'UPSTREAM_RESET'
  /** The upstream answered something that is not valid HTTP, or headers we cannot relay. */
  | 'UPSTREAM_BAD_RESPONSE'
  /** The request cannot be sent as prepared (a header value the HTTP client refuses). */
  | 'REQUEST_INVALID'
  /** Every connection to the origin was busy, and its queue full or the wait too long: nothing was sent. */
  | 'UPSTREAM_BUSY'
  /** The client went away (or stopped sending its body) first: nothing more can be sent to it. */
  | 'CLIENT_CLOSED'
  /** The client sent nothing of its body for longer than the client body timeout: it was cut. */
  | 'CLIENT_BODY_TIMEOUT'
  /** The client read nothing of the response for longer than the send timeout: it was cut. */
  | 'CLIENT_SEND_TIMEOUT'
  /** The caller's signal aborted the exchange for a reason other than a timeout (e.g. shutdown). */
  | 'FORWARD_ABORTED'
>;

export class ForwardError extends Error {
  override readonly name = 'ForwardError';
  readonly code: ForwardErrorCode;
  readonly status: number;

  constructor(code: ForwardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = ERROR_STATUS[code];
  }
}

export interface ForwardTimeouts {
  /** Establishing the TCP connection and the TLS handshake. */
  readonly connectMs: number;
  /** Waiting for the response head once the request is sent (or while the upstream stops reading its body). */
  readonly headersMs: number;
  /** The longest silence allowed between two chunks of the response body. */
  readonly bodyIdleMs: number;
}

/** Header name (any case) → value(s); `undefined` values are skipped. */
export type UpstreamHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface ForwardTarget {
  /** `http://10.0.0.7:8080` or `https://api.example.com`: scheme, host and port only. */
  readonly origin: string;
  /**
   * Speak cleartext HTTP/2 with prior knowledge (h2c) to an `http://` origin (a backend with
   * `appProtocol: kubernetes.io/h2c`). An `https://` origin negotiates HTTP/2 or HTTP/1.1 by ALPN.
   */
  readonly h2c?: boolean;
  /** The normalised path (after any rewrite) and query, as matched: `/anything/x?a=1`. */
  readonly path: string;
  /**
   * The request headers to send, prepared by the caller: start from `headersFromClient()`
   * (hop-by-hop and `Connection`-named headers of the client already gone), then strip and
   * set identity headers, choose `Host`, decide `X-Forwarded-*`. The forwarder still removes
   * hop-by-hop headers, those named in this object's `Connection`, and `Expect` (the forwarder
   * answers `100 Continue` itself, when it starts reading the body). Without `Host`, the origin's
   * host is sent.
   */
  readonly headers: UpstreamHeaders;
  readonly timeouts: ForwardTimeouts;
  /** Aborts the exchange: a `TimeoutError` reason reports UPSTREAM_TIMEOUT, any other FORWARD_ABORTED. */
  readonly signal: AbortSignal | null;
  /** The answer's `X-Request-Id`, in place of any the upstream sent; absent, its headers are relayed as they are. */
  readonly requestId?: string;
  /**
   * The proxy's session cookie names (RouteTable.proxyCookies): the upstream's Set-Cookie lines
   * for them, their chunks and login attempts are removed. Set-Cookie lines already on `res`
   * (the pipeline's: a refreshed or re-sealed session) are sent beside the upstream's.
   */
  readonly proxyCookies?: readonly string[];
}

export interface ForwardOutcome {
  /** The origin the request went to. */
  readonly origin: string;
  /** The status relayed to the client; null when no response head was sent. */
  readonly status: number | null;
  /** Request body bytes sent upstream. */
  readonly requestBytes: number;
  /** Response body bytes relayed to the client. */
  readonly responseBytes: number;
  /** Null on success. */
  readonly error: ForwardError | null;
  /**
   * True once the response head went to the client. An error after that cannot become an
   * error page: the forwarder has already cut the client connection so the truncation shows.
   * An error before it leaves `res` untouched for the caller to answer `error.status`.
   */
  readonly responseStarted: boolean;
}

export interface Forwarder {
  /**
   * Sends `req` (its method and body) to `target` and streams the answer into `res`. Call it
   * once the request is allowed: it answers the client's `Expect: 100-continue` and reads the
   * body. Never rejects: every failure is an outcome with an error.
   */
  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<ForwardOutcome>;
  /** Closes every upstream connection; forwarding after close fails with FORWARD_ABORTED. */
  close(): Promise<void>;
}
