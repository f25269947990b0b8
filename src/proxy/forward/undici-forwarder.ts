// Forwarding over undici: one keep-alive Pool per upstream origin, no pipelining, bodies
// streamed both ways with backpressure (a paused client pauses the upstream and vice versa),
// nothing buffered. Uses undici's low-level dispatch API: no Readable or Promise per request,
// which is what made it the fastest path measured (bench/RESULTS.md, "Proxy").
//
// HTTPS upstreams are verified against Node's default trust store, which includes the
// certificates in NODE_EXTRA_CA_CERTS (undici's connector calls tls.connect without `ca`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './hop-by-hop.ts';
import { ForwardError, type ForwardErrorCode, type ForwardOutcome, type ForwardTarget, type Forwarder } from './types.ts';

export interface UndiciForwarderOptions {
  /** The most connections open to one origin; requests beyond wait in the pool. Default 256. */
  readonly connectionsPerOrigin?: number;
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
  /** The clock, for tests. Default `Date.now`. */
  readonly now?: () => number;
}

export interface UndiciForwarder extends Forwarder {
  /** How many origin pools are open now. */
  readonly poolCount: number;
}

export function createUndiciForwarder(options: UndiciForwarderOptions = {}): UndiciForwarder {
  const connections = options.connectionsPerOrigin ?? 256;
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? 4_000;
  const sweepEvery = options.idlePoolSweepMs ?? 60_000;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(connections) || connections < 1) throw new TypeError('connectionsPerOrigin must be a positive integer');
  if (!Number.isFinite(keepAliveTimeout) || keepAliveTimeout < 1) throw new TypeError('keepAliveTimeoutMs must be a positive number');
  if (!Number.isFinite(sweepEvery) || sweepEvery < 0) throw new TypeError('idlePoolSweepMs must be a number of milliseconds');

  // Keyed by origin and connect timeout: undici sets the connect timeout per pool, and in
  // practice every route shares one, so this is one pool per origin.
  const pools = new Map<string, Pool>();
  let closed = false;
  let lastSweep = now();

  function poolFor(origin: string, connectMs: number): Pool {
    const key = `${connectMs} ${origin}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      if (now() - lastSweep >= sweepEvery) {
        lastSweep = now();
        dropIdlePools();
      }
      // Redirects, retries and decompression are the client's business: undici does none of
      // them on dispatch.
      pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout, keepAliveMaxTimeout: keepAliveTimeout, connectTimeout: connectMs });
      pools.set(key, pool);
    }
    return pool;
  }

  function dropIdlePools(): void {
    for (const [key, pool] of pools) {
      const { connected, size } = pool.stats;
      if (connected === 0 && size === 0) {
        pools.delete(key);
        void pool.close();
      }
    }
  }

  return {
    get poolCount() {
      return pools.size;
    },
    forward(req, res, target) {
      return new Promise<ForwardOutcome>((resolve) => {
        if (closed) {
          resolve(failedBeforeStart(target, new ForwardError('FORWARD_ABORTED', 'The forwarder is closed.')));
          return;
        }
        const exchange = new Exchange(req, res, target, resolve);
        let pool: Pool;
        try {
          pool = poolFor(target.origin, target.timeouts.connectMs);
        } catch (error) {
          exchange.fail(new ForwardError('UPSTREAM_CONNECT_FAILED', `The upstream origin ${target.origin} is invalid.`, { cause: error }));
          return;
        }
        exchange.dispatch(pool);
      });
    },
    async close() {
      closed = true;
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((pool) => pool.destroy()));
    },
  };
}

function failedBeforeStart(target: ForwardTarget, error: ForwardError): ForwardOutcome {
  return { origin: target.origin, status: null, requestBytes: 0, responseBytes: 0, error, responseStarted: false };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** One request/response exchange: the undici handler and its bookkeeping. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #target: ForwardTarget;
  readonly #resolve: (outcome: ForwardOutcome) => void;
  #controller: Dispatcher.DispatchController | null = null;
  /** Set when we abort (client gone, caller's signal): it wins over the error undici reports. */
  #abortReason: ForwardError | null = null;
  #settled = false;
  #status: number | null = null;
  #requestBytes = 0;
  #responseBytes = 0;

  constructor(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, resolve: (outcome: ForwardOutcome) => void) {
    this.#req = req;
    this.#res = res;
    this.#target = target;
    this.#resolve = resolve;
  }

  dispatch(pool: Pool): void {
    const signal = this.#target.signal;
    if (signal !== null) {
      if (signal.aborted) {
        this.fail(abortError(signal.reason));
        return;
      }
      signal.addEventListener('abort', this.#onSignal, { once: true });
    }
    this.#res.on('close', this.#onClientClose);

    const req = this.#req;
    try {
      pool.dispatch(
        {
          path: this.#target.path,
          method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers: upstreamRequestHeaders(this.#target.headers),
          body: hasBody(req) ? req : null,
          headersTimeout: this.#target.timeouts.headersMs,
          bodyTimeout: this.#target.timeouts.bodyIdleMs,
        },
        this,
      );
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
    if (statusCode < 200) return; // 1xx: Node answers the client's Expect itself; others are dropped.
    const raw = controller.rawHeaders;
    let headers: string[];
    try {
      headers = downstreamResponseHeaders(Array.isArray(raw) ? raw : [], this.#target.requestId);
      this.#res.writeHead(statusCode, headers);
    } catch (error) {
      controller.abort(new ForwardError('UPSTREAM_BAD_RESPONSE', 'The upstream response has headers that cannot be relayed.', { cause: error }));
      return;
    }
    this.#status = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#responseBytes += chunk.length;
    if (!this.#res.write(chunk) && !controller.paused) {
      controller.pause();
      this.#res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (this.#settled) return;
    this.#res.end();
    this.#settle(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#settle(this.#abortReason ?? this.#classify(error));
  }

  readonly #onSignal = (): void => {
    this.fail(abortError(this.#target.signal?.reason));
  };

  readonly #onClientClose = (): void => {
    if (!this.#res.writableFinished) this.fail(new ForwardError('CLIENT_CLOSED', 'The client closed the connection.'));
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
    const responseStarted = this.#status !== null;
    // Too late for an error page: cut the connection so the client sees a truncated
    // response, never a short body that looks complete.
    if (error !== null && responseStarted) this.#res.destroy();
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
