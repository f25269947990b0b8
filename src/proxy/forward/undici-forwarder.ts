// Forwarding over undici: one keep-alive Pool per upstream origin, no pipelining, bodies
// streamed both ways with backpressure (a paused client pauses the upstream and vice versa).
// Uses undici's low-level dispatch API: no Readable or Promise per request, which is what made
// it the fastest path measured (bench/RESULTS.md, "Proxy").
//
// Slow clients: a request body up to the buffer size is read before a connection is taken, and
// a client silent for too long while sending its body, or not reading the response, is cut and
// its upstream connection destroyed (never returned to the pool mid-message). Requests beyond an
// origin's connections wait in a bounded queue for a bounded time (origin-queue.ts).
//
// HTTPS upstreams are verified against Node's default trust store, which includes the
// certificates in NODE_EXTRA_CA_CERTS (undici's connector calls tls.connect without `ca`), and
// speak HTTP/2 when they choose it by ALPN (undici offers h2 and http/1.1); `h2c` targets get
// cleartext HTTP/2 with prior knowledge. Over HTTP/2 one connection carries up to 100 requests
// at once (undici's default), so an HTTP/2 origin's pool has a hundredth of the connections.
//
// HTTP/2 clients: the upstream's trailers (gRPC's status) are relayed, and the response head is
// held until its first byte of body, its end, or the next turn of the event loop, whichever is
// first: an upstream answer that is headers alone (a gRPC trailers-only answer) reaches the
// client as headers alone, ending the stream — which is what a gRPC client reads its status from.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { SYSTEM_TIMERS, type Timers } from '../../time/timers.ts';
import { awaitsEndStream, bufferClientBody, hasBody, sendContinue, streamsBody, watchClientBody } from './client-body.ts';
import { downstreamResponseHeaders, flatResponseHeaders, relayedTrailers, upstreamRequestHeaders } from './hop-by-hop.ts';
import { cutResponse, http2StreamOf } from '../h2/request.ts';
import { OriginQueue, type QueueWaiter } from './origin-queue.ts';
import { ForwardError, type ForwardErrorCode, type ForwardOutcome, type ForwardTarget, type Forwarder } from './types.ts';

export interface UndiciForwarderOptions {
  /**
   * The most connections open to one origin. Default 1024, Envoy's default circuit breaker:
   * clients that hold connections (slow readers, slow senders of long bodies) must not be able
   * to take them all before their timeouts cut them.
   */
  readonly connectionsPerOrigin?: number;
  /** Requests that may wait for a connection to one origin; beyond, UPSTREAM_BUSY at once. Default 1024. */
  readonly queueSizePerOrigin?: number;
  /**
   * The longest wait for a connection, then UPSTREAM_BUSY (503). Default 5000: long enough for
   * a burst to pass, short enough that a client learns of an overloaded upstream before it
   * gives up on its own.
   */
  readonly queueTimeoutMs?: number;
  /** Request bodies up to this many bytes are read in full before a connection is taken. Default 1 MiB. */
  readonly clientBodyBufferSize?: number;
  /** The longest silence between two chunks of a request body, then the client is cut (408). Default 60 000, as nginx. */
  readonly clientBodyTimeoutMs?: number;
  /** The longest a response write may wait for the client to read, then the client is cut. Default 60 000, as nginx. */
  readonly sendTimeoutMs?: number;
  /**
   * An idle upstream connection is closed after this long, or sooner when the upstream's
   * `Keep-Alive: timeout=` says so (less undici's 2 s margin, against reusing a connection the
   * upstream is closing). Default 4000.
   */
  readonly keepAliveTimeoutMs?: number;
  /**
   * Pools with no connection and no request are dropped when a new pool is made, at most this
   * often: endpoints come and go (pod IPs), their pools should not stay. Default 60 000.
   */
  readonly idlePoolSweepMs?: number;
  /** The clock (when pools were last swept); injectable for tests. */
  readonly timers?: Timers;
}

export const DEFAULT_FORWARDER_LIMITS = {
  connectionsPerOrigin: 1024,
  queueSizePerOrigin: 1024,
  queueTimeoutMs: 5_000,
  clientBodyBufferSize: 1024 * 1024,
  clientBodyTimeoutMs: 60_000,
  sendTimeoutMs: 60_000,
} as const;

/** What an exchange needs to know of the client's limits. */
interface ClientLimits {
  readonly bufferSize: number;
  readonly bodyIdleMs: number;
  readonly sendTimeoutMs: number;
}

/** An origin's connections: undici's pool, and the queue that admits requests to it. */
interface Origin {
  readonly pool: Pool;
  readonly queue: OriginQueue;
  /** The name an HTTPS upstream's certificate is checked against, and sent by SNI (tlsServerName). */
  readonly servername: string | undefined;
}

export interface UndiciForwarder extends Forwarder {
  /** How many origin pools are open now. */
  readonly poolCount: number;
}

export function createUndiciForwarder(options: UndiciForwarderOptions = {}): UndiciForwarder {
  const connections = options.connectionsPerOrigin ?? DEFAULT_FORWARDER_LIMITS.connectionsPerOrigin;
  const queueSize = options.queueSizePerOrigin ?? DEFAULT_FORWARDER_LIMITS.queueSizePerOrigin;
  const queueTimeoutMs = options.queueTimeoutMs ?? DEFAULT_FORWARDER_LIMITS.queueTimeoutMs;
  const client: ClientLimits = {
    bufferSize: options.clientBodyBufferSize ?? DEFAULT_FORWARDER_LIMITS.clientBodyBufferSize,
    bodyIdleMs: options.clientBodyTimeoutMs ?? DEFAULT_FORWARDER_LIMITS.clientBodyTimeoutMs,
    sendTimeoutMs: options.sendTimeoutMs ?? DEFAULT_FORWARDER_LIMITS.sendTimeoutMs,
  };
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? 4_000;
  const sweepEvery = options.idlePoolSweepMs ?? 60_000;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const now = () => timers.now();
  if (!Number.isInteger(connections) || connections < 1) throw new TypeError('connectionsPerOrigin must be a positive integer');
  if (!Number.isInteger(queueSize) || queueSize < 0) throw new TypeError('queueSizePerOrigin must be a whole number');
  if (!isDuration(queueTimeoutMs)) throw new TypeError('queueTimeoutMs must be a positive number of milliseconds');
  if (!Number.isInteger(client.bufferSize) || client.bufferSize < 0) throw new TypeError('clientBodyBufferSize must be a whole number of bytes');
  if (!isDuration(client.bodyIdleMs)) throw new TypeError('clientBodyTimeoutMs must be a positive number of milliseconds');
  if (!isDuration(client.sendTimeoutMs)) throw new TypeError('sendTimeoutMs must be a positive number of milliseconds');
  if (!isDuration(keepAliveTimeout)) throw new TypeError('keepAliveTimeoutMs must be a positive number');
  if (!Number.isFinite(sweepEvery) || sweepEvery < 0) throw new TypeError('idlePoolSweepMs must be a number of milliseconds');

  // Keyed by origin and connect timeout: undici sets the connect timeout per pool, and in
  // practice every route shares one, so this is one pool per origin.
  const origins = new Map<string, Origin>();
  let closed = false;
  let lastSweep = now();

  function originFor(origin: string, connectMs: number, h2c: boolean): Origin {
    const key = `${connectMs} ${h2c ? 'h2c ' : ''}${origin}`;
    let entry = origins.get(key);
    if (entry === undefined) {
      if (now() - lastSweep >= sweepEvery) {
        lastSweep = now();
        dropIdleOrigins();
      }
      // Redirects, retries and decompression are the client's business: undici does none of
      // them on dispatch. The pool has as many connections as the queue admits requests, so
      // undici never queues on its own.
      const pool = h2c
        ? new Pool(origin, { connections: Math.ceil(connections / H2_STREAMS_PER_CONNECTION), ...H2C, keepAliveTimeout, keepAliveMaxTimeout: keepAliveTimeout, connectTimeout: connectMs })
        : new Pool(origin, { connections, pipelining: 1, keepAliveTimeout, keepAliveMaxTimeout: keepAliveTimeout, connectTimeout: connectMs });
      entry = { pool, queue: new OriginQueue({ connections, queueSize, queueTimeoutMs }), servername: tlsServerName(origin) };
      origins.set(key, entry);
    }
    return entry;
  }

  function dropIdleOrigins(): void {
    for (const [key, { pool, queue }] of origins) {
      const { connected, size } = pool.stats;
      if (connected === 0 && size === 0 && queue.idle) {
        origins.delete(key);
        void pool.close();
      }
    }
  }

  return {
    get poolCount() {
      return origins.size;
    },
    forward(req, res, target) {
      return new Promise<ForwardOutcome>((resolve) => {
        if (closed) {
          resolve(failedBeforeStart(target, new ForwardError('FORWARD_ABORTED', 'The forwarder is closed.')));
          return;
        }
        const exchange = new Exchange(req, res, target, client, resolve);
        let origin: Origin;
        try {
          origin = originFor(target.origin, target.timeouts.connectMs, target.h2c === true);
        } catch (error) {
          exchange.fail(new ForwardError('UPSTREAM_CONNECT_FAILED', `The upstream origin ${target.origin} is invalid.`, { cause: error }));
          return;
        }
        exchange.start(origin);
      });
    },
    async close() {
      closed = true;
      const all = [...origins.values()];
      origins.clear();
      await Promise.all(all.map(({ pool }) => pool.destroy()));
    },
  };
}

/**
 * Security: an HTTPS upstream is checked against the host name of its URL (and asked for it by
 * SNI), as nginx's proxy_ssl_name does by default. undici would take the request's Host header
 * instead, which is the client's: a backend `https://api.internal` behind `shop.example.com`
 * would have to present a certificate for shop.example.com. An origin named by its address
 * keeps undici's default (the Host header's name, or none), which a certificate for an address
 * rarely covers otherwise.
 */
export function tlsServerName(origin: string): string | undefined {
  const url = new URL(origin);
  if (url.protocol !== 'https:' || isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0) return undefined;
  return url.hostname;
}

/** Pool's `useH2c` (prior knowledge): undici 8 reads it, its types do not name it. */
const H2C = { useH2c: true } as unknown as Pool.Options;

/** undici's default SETTINGS_MAX_CONCURRENT_STREAMS for the HTTP/2 connections it opens. */
const H2_STREAMS_PER_CONNECTION = 100;

function failedBeforeStart(target: ForwardTarget, error: ForwardError): ForwardOutcome {
  return { origin: target.origin, status: null, requestBytes: 0, responseBytes: 0, error, responseStarted: false };
}

function isDuration(ms: number): boolean {
  return Number.isFinite(ms) && ms >= 1;
}

/**
 * One request/response exchange: the client's body, the wait for a connection, the undici
 * handler, and their bookkeeping.
 */
class Exchange implements Dispatcher.DispatchHandler, QueueWaiter {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #target: ForwardTarget;
  readonly #limits: ClientLimits;
  readonly #resolve: (outcome: ForwardOutcome) => void;
  #origin: Origin | null = null;
  /** What goes upstream: nothing, the whole body read, or the request to stream its body. */
  #body: Buffer | IncomingMessage | null = null;
  /** In the origin's queue (leave() owed), and whether it was given a connection. */
  #queued = false;
  #admitted = false;
  #controller: Dispatcher.DispatchController | null = null;
  /** Set when we abort (client gone or too slow, caller's signal): it wins over the error undici reports. */
  #abortReason: ForwardError | null = null;
  #settled = false;
  #status: number | null = null;
  #requestBytes = 0;
  #responseBytes = 0;
  #stopWatchingBody: (() => void) | null = null;
  #sendTimer: ReturnType<typeof setTimeout> | null = null;
  /** An HTTP/2 client's response head, held (see the top of this file) until this fires. */
  #headTimer: ReturnType<typeof setImmediate> | null = null;
  /** The held head's gRPC status and message, for an upstream that ends without trailers. */
  #headStatus: Record<string, string> | null = null;

  constructor(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, limits: ClientLimits, resolve: (outcome: ForwardOutcome) => void) {
    this.#req = req;
    this.#res = res;
    this.#target = target;
    this.#limits = limits;
    this.#resolve = resolve;
  }

  start(origin: Origin): void {
    const signal = this.#target.signal;
    if (signal !== null) {
      if (signal.aborted) {
        this.fail(abortError(signal.reason));
        return;
      }
      signal.addEventListener('abort', this.#onSignal, { once: true });
    }
    this.#res.on('close', this.#onClientClose);
    this.#origin = origin;

    const req = this.#req;
    // An HTTP/2 stream the client reset while the pipeline looked at it: its 'close' is past.
    if (http2StreamOf(req)?.destroyed === true) {
      this.fail(new ForwardError('CLIENT_CLOSED', 'The client closed the connection.'));
      return;
    }
    if (!hasBody(req)) {
      this.#enterQueue();
      return;
    }
    this.#readBody(true);
  }

  /**
   * The body: streamed once a connection is ours, or read first. With `mayWait`, a gRPC call whose
   * END_STREAM has not come yet gets one turn of the event loop for it: it nearly always came in
   * the same read as its headers, which Node had not finished yet (see streamsBody()).
   */
  #readBody(mayWait: boolean): void {
    const req = this.#req;
    if (mayWait && awaitsEndStream(req)) {
      setImmediate(() => {
        if (!this.#settled) this.#readBody(false);
      });
      return;
    }
    if (streamsBody(req, this.#limits.bufferSize)) {
      this.#body = req; // streams once a connection is ours
      this.#enterQueue();
      return;
    }
    // Read before a connection is taken: a client that sends slowly holds no upstream connection.
    sendContinue(req, this.#res);
    bufferClientBody(req, { bufferSize: this.#limits.bufferSize, idleMs: this.#limits.bodyIdleMs }).then(
      (body) => {
        if (this.#settled) return;
        this.#body = body;
        this.#enterQueue();
      },
      (error: unknown) => {
        this.fail(error instanceof ForwardError ? error : new ForwardError('CLIENT_CLOSED', 'The client closed the connection before sending its whole body.', { cause: error }));
      },
    );
  }

  #enterQueue(): void {
    this.#queued = true;
    (this.#origin as Origin).queue.enter(this);
  }

  /** A connection to the origin is ours (QueueWaiter). */
  admit(): void {
    this.#admitted = true;
    const body = this.#body;
    if (body !== null && !Buffer.isBuffer(body)) {
      sendContinue(this.#req, this.#res);
      this.#stopWatchingBody = watchClientBody(body, this.#limits.bodyIdleMs, () => {
        this.fail(new ForwardError('CLIENT_BODY_TIMEOUT', `The client sent nothing of its body for ${this.#limits.bodyIdleMs} ms.`));
      });
    }
    this.#dispatch(this.#origin as Origin, body);
  }

  /** No connection to the origin (QueueWaiter). */
  refuse(reason: 'full' | 'timeout'): void {
    const origin = this.#target.origin;
    this.fail(new ForwardError('UPSTREAM_BUSY', reason === 'full' ? `Too many requests are waiting for a connection to ${origin}.` : `No connection to ${origin} became free in time.`));
  }

  #dispatch(origin: Origin, body: Buffer | IncomingMessage | null): void {
    const req = this.#req;
    try {
      const options: Dispatcher.DispatchOptions & { servername: string | undefined } = {
        // undici 8 reads `servername` from a dispatch's options (core/request.js); its types do not name it.
        servername: origin.servername,
        path: this.#target.path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: upstreamRequestHeaders(this.#target.headers),
        body,
        headersTimeout: this.#target.timeouts.headersMs,
        bodyTimeout: this.#target.timeouts.bodyIdleMs,
      };
      origin.pool.dispatch(options, this);
    } catch (error) {
      this.fail(new ForwardError('REQUEST_INVALID', 'The request cannot be sent upstream as prepared.', { cause: error }));
    }
  }

  /** Ends the exchange with an error now, whatever undici is still doing. */
  fail(error: ForwardError): void {
    if (this.#settled) return;
    this.#abortReason ??= error;
    if (this.#controller !== null && !this.#controller.aborted) {
      this.#controller.abort(error); // undici calls onResponseError, which settles
      if (this.#settled) return;
    }
    this.#settle(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Aborted while the request waited for a connection: stop it before it is written.
    if (this.#abortReason !== null) controller.abort(this.#abortReason);
  }

  onBodySent(chunk: Buffer): void {
    this.#requestBytes += chunk.length;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode < 200) return; // 1xx: the client's Expect is answered by sendContinue(); others are dropped.
    let headers: string[];
    try {
      headers = downstreamResponseHeaders(flatResponseHeaders(controller.rawHeaders), this.#target.requestId, this.#target.proxyCookies);
      // The pipeline's Set-Cookie lines (a refreshed or re-sealed session) are on `res` already;
      // writeHead() replaces every header its list names, so they join the upstream's there.
      const ours = this.#res.getHeader('set-cookie');
      if (ours !== undefined) for (const line of Array.isArray(ours) ? ours : [String(ours)]) headers.push('set-cookie', line);
      if (this.#req.httpVersionMajor === 2) this.#holdHead(statusCode, headers);
      else this.#res.writeHead(statusCode, headers);
    } catch (error) {
      controller.abort(new ForwardError('UPSTREAM_BAD_RESPONSE', 'The upstream response has headers that cannot be relayed.', { cause: error }));
      return;
    }
    this.#status = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#responseBytes += chunk.length;
    if (!this.#res.write(chunk) && !controller.paused) {
      // The client reads slower than the upstream sends: hold the upstream back, for as long
      // as the send timeout allows.
      controller.pause();
      this.#sendTimer = setTimeout(this.#onSendTimeout, this.#limits.sendTimeoutMs);
      this.#res.once('drain', () => {
        if (this.#sendTimer !== null) clearTimeout(this.#sendTimer);
        this.#sendTimer = null;
        controller.resume();
      });
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.#settled) return;
    if (this.#req.httpVersionMajor === 2) {
      try {
        this.#endHttp2(trailers);
      } catch (error) {
        this.#settle(new ForwardError('UPSTREAM_BAD_RESPONSE', 'The upstream trailers cannot be relayed.', { cause: error }));
        return;
      }
    }
    this.#res.end();
    this.#settle(null);
  }

  /**
   * An HTTP/2 client's head: set on `res`, not sent. res.write() sends it with the first chunk,
   * res.end() with END_STREAM when nothing else came (a trailers-only answer); otherwise it goes
   * at the next turn of the event loop, so that a stream whose upstream sent its head and waits
   * (a gRPC server's initial metadata) does not keep its client waiting.
   */
  #holdHead(statusCode: number, flat: readonly string[]): void {
    const res = this.#res;
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!.toLowerCase();
      const value = flat[i + 1]!;
      const current = headers[name];
      headers[name] = current === undefined ? value : Array.isArray(current) ? [...current, value] : [current, value];
    }
    res.statusCode = statusCode;
    for (const name of Object.keys(headers)) res.setHeader(name, headers[name]!);
    const status = headers['grpc-status'];
    if (typeof status === 'string') this.#headStatus = { 'grpc-status': status, ...(typeof headers['grpc-message'] === 'string' ? { 'grpc-message': headers['grpc-message'] } : {}) };
    this.#headTimer = setImmediate(() => {
      this.#headTimer = null;
      if (!res.headersSent && !this.#settled) res.flushHeaders();
    });
  }

  /**
   * The upstream's trailers to an HTTP/2 client. With the head still held, they join it (one
   * HEADERS frame that ends the stream: gRPC's trailers-only form); sent already, they follow as
   * trailers — and when the upstream sent none, a gRPC status that came in its head is repeated
   * there, since a client reads the status from the trailers of a response that has a body.
   */
  #endHttp2(trailers: Record<string, string | string[] | undefined>): void {
    const res = this.#res;
    if (this.#headTimer !== null) clearImmediate(this.#headTimer);
    this.#headTimer = null;
    const relayed = relayedTrailers(trailers);
    if (!res.headersSent) {
      for (const name of Object.keys(relayed)) res.setHeader(name, relayed[name]!);
      return;
    }
    if (Object.keys(relayed).length === 0 && this.#headStatus !== null) res.addTrailers(this.#headStatus);
    else if (Object.keys(relayed).length > 0) res.addTrailers(relayed);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#settle(this.#abortReason ?? this.#classify(error));
  }

  readonly #onSignal = (): void => {
    this.fail(abortError(this.#target.signal?.reason));
  };

  readonly #onClientClose = (): void => {
    // HTTP/2's response reports itself finished once its stream has closed, however it closed.
    const finished = this.#req.httpVersionMajor === 2 ? this.#res.writableEnded : this.#res.writableFinished;
    if (!finished) this.fail(new ForwardError('CLIENT_CLOSED', 'The client closed the connection.'));
  };

  readonly #onSendTimeout = (): void => {
    this.#sendTimer = null;
    this.fail(new ForwardError('CLIENT_SEND_TIMEOUT', `The client read nothing of the response for ${this.#limits.sendTimeoutMs} ms.`));
  };

  #classify(error: Error): ForwardError {
    const code = (error as { code?: unknown }).code;
    if (this.#controller === null) {
      // Before onRequestStart: refused as prepared, forwarder closed, or no connection made.
      if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
        return new ForwardError('REQUEST_INVALID', 'The request cannot be sent upstream as prepared.', { cause: error });
      }
      if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') {
        return new ForwardError('FORWARD_ABORTED', 'The forwarder was closed.', { cause: error });
      }
      return new ForwardError('UPSTREAM_CONNECT_FAILED', `Could not connect to ${this.#target.origin}.`, { cause: error });
    }
    if (this.#req.errored !== null || (this.#req.destroyed && !this.#req.complete)) {
      return new ForwardError('CLIENT_CLOSED', 'The client closed the connection before sending its whole body.', { cause: error });
    }
    return new ForwardError(errorCodeFor(code), messageFor(errorCodeFor(code), this.#target.origin), { cause: error });
  }

  #settle(error: ForwardError | null): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#target.signal?.removeEventListener('abort', this.#onSignal);
    this.#res.off('close', this.#onClientClose);
    this.#stopWatchingBody?.();
    if (this.#sendTimer !== null) clearTimeout(this.#sendTimer);
    if (this.#headTimer !== null) clearImmediate(this.#headTimer);
    // The connection goes to the next waiter. After an error undici has destroyed it (an abort
    // mid-message never returns a connection to the pool), and the pool opens a fresh one.
    if (this.#queued) (this.#origin as Origin).queue.leave(this, this.#admitted);
    const responseStarted = this.#status !== null;
    // Too late for an error page: cut the connection so the client sees a truncated
    // response, never a short body that looks complete.
    if (error !== null && responseStarted) cutResponse(this.#req, this.#res);
    this.#resolve({
      origin: this.#target.origin,
      status: this.#status,
      requestBytes: this.#requestBytes,
      responseBytes: this.#responseBytes,
      error,
      responseStarted,
    });
  }
}

function errorCodeFor(code: unknown): ForwardErrorCode {
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'UPSTREAM_TIMEOUT';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'UND_ERR_INVALID_ARG':
      return 'UPSTREAM_BAD_RESPONSE';
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return 'CLIENT_CLOSED';
    default:
      return typeof code === 'string' && code.startsWith('HPE_') ? 'UPSTREAM_BAD_RESPONSE' : 'UPSTREAM_RESET';
  }
}

function messageFor(code: ForwardErrorCode, origin: string): string {
  switch (code) {
    case 'UPSTREAM_TIMEOUT':
      return `The upstream ${origin} did not answer in time.`;
    case 'UPSTREAM_BAD_RESPONSE':
      return `The upstream ${origin} sent an invalid response.`;
    case 'CLIENT_CLOSED':
      return 'The client closed the connection before sending its whole body.';
    default:
      return `The connection to the upstream ${origin} was reset.`;
  }
}

function abortError(reason: unknown): ForwardError {
  if (reason instanceof ForwardError) return reason;
  // AbortSignal.timeout() aborts with a DOMException named TimeoutError (maybe from another realm).
  if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError') {
    return new ForwardError('UPSTREAM_TIMEOUT', 'The request took longer than its time limit.', { cause: reason });
  }
  return new ForwardError('FORWARD_ABORTED', 'The request was aborted.', { cause: reason });
}
