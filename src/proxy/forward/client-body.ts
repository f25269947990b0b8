// The client's side of a request body. A body that fits the buffer is read in full before an
// upstream connection is taken, so a client that sends slowly holds only the bytes it sent,
// never a connection of the upstream's pool (nginx buffers the same way); a larger one
// streams, with backpressure. Either way, a client silent for longer than the idle timeout
// while the proxy waits for its body is cut.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isGrpcRequest } from '../h2/grpc.ts';
import { http2StreamOf } from '../h2/request.ts';
import { ForwardError } from './types.ts';

export interface ClientBodyLimits {
  /** Bodies up to this many bytes are read in full before connecting upstream. */
  readonly bufferSize: number;
  /** The longest silence between two chunks of the body while the proxy waits for them. */
  readonly idleMs: number;
}

/**
 * True when the request carries a body: over HTTP/1.1 a non-zero `Content-Length`, or chunked;
 * over HTTP/2 unless its headers ended the stream (or `Content-Length: 0`).
 */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  const stream = http2StreamOf(req);
  if (stream !== null) return length !== '0' && !stream.endAfterHeaders;
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The body's declared length; null when it has none to declare: chunked (Node's parser refuses
 * both, or a bad length), or HTTP/2 without `Content-Length`.
 */
export function declaredLength(req: IncomingMessage): number | null {
  if (req.headers['transfer-encoding'] !== undefined) return null;
  if (req.httpVersionMajor === 2 && req.headers['content-length'] === undefined) return null;
  const length = req.headers['content-length'];
  return length === undefined ? 0 : Number(length);
}

/**
 * True when the body streams upstream as it comes, once a connection is ours, rather than being
 * read first: a body declared longer than the buffer, and a gRPC call's — its messages must flow
 * as they come (a streaming call waits for answers between them) — unless its client has sent
 * them all already (END_STREAM: a unary call, nearly always), when it is read like any short
 * body (a whole Buffer upstream costs less than a stream piped there).
 */
export function streamsBody(req: IncomingMessage, bufferSize: number): boolean {
  if (isGrpcRequest(req.headers)) return http2StreamOf(req)?.state.remoteClose !== 1;
  const declared = declaredLength(req);
  return declared !== null && declared > bufferSize;
}

/** A gRPC call over HTTP/2 whose client has not ended its side yet (maybe only not yet read). */
export function awaitsEndStream(req: IncomingMessage): boolean {
  return isGrpcRequest(req.headers) && http2StreamOf(req)?.state.remoteClose === 0;
}

/**
 * Answers the client's `Expect: 100-continue`, once: call it when the request was allowed and
 * its body is about to be read. The proxy's server takes the `checkContinue` event, so Node
 * does not answer it on its own before the request was authenticated.
 */
export function sendContinue(req: IncomingMessage, res: ServerResponse): void {
  const expect = req.headers.expect;
  // `_sent100` is Node's own record, set by writeContinue(), whoever called it (a server
  // without a checkContinue listener answers at once).
  if (typeof expect !== 'string' || expect.toLowerCase() !== '100-continue' || (res as { _sent100?: boolean })._sent100 === true) return;
  if (!res.headersSent && !res.destroyed) res.writeContinue();
}

/**
 * Reads the body into memory when it fits `bufferSize`: resolves the whole body as one Buffer.
 * A longer body (declared, or found so while reading a chunked one) resolves `req` itself to
 * stream, paused, with what was read put back in front. Rejects with CLIENT_BODY_TIMEOUT when
 * the client is silent for `idleMs`, CLIENT_CLOSED when it goes away.
 */
export function bufferClientBody(req: IncomingMessage, limits: ClientBodyLimits): Promise<Buffer | IncomingMessage> {
  const declared = declaredLength(req);
  if (declared !== null && declared > limits.bufferSize) return Promise.resolve(req);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      stop();
      reject(new ForwardError('CLIENT_BODY_TIMEOUT', `The client sent nothing of its body for ${limits.idleMs} ms.`));
    }, limits.idleMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= limits.bufferSize) {
        timer.refresh();
        return;
      }
      // Too long to hold: it streams from here, starting with what was read.
      req.pause();
      stop();
      req.unshift(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      resolve(req);
    };
    const onEnd = (): void => {
      stop();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onClose = (): void => {
      stop();
      reject(new ForwardError('CLIENT_CLOSED', 'The client closed the connection before sending its whole body.'));
    };
    function stop(): void {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
    }
    req.on('data', onData).on('end', onEnd).on('close', onClose).on('error', onClose);
  });
}

/**
 * While a body streams, cuts a client silent for longer than `idleMs` by calling `onIdle`.
 * Time the request spends paused — waiting for a connection, or held back by a slow upstream
 * (backpressure) — is not the client's silence and does not count. Pauses `req` (whoever
 * reads it resumes it). Answers a function that stops watching.
 */
export function watchClientBody(req: IncomingMessage, idleMs: number, onIdle: () => void): () => void {
  if (req.readableEnded) return () => {};
  // Paused first: a 'data' listener on a stream never paused would start the flow, and what
  // flowed before the upstream reads the body would be lost.
  req.pause();
  const refresh = (): void => {
    timer.refresh();
  };
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', refresh).off('resume', refresh).off('end', stop).off('close', stop);
  };
  const timer = setTimeout(function check() {
    if (req.isPaused()) {
      timer.refresh();
      return;
    }
    stop();
    onIdle();
  }, idleMs);
  req.on('data', refresh).on('resume', refresh).on('end', stop).on('close', stop);
  return stop;
}
