// An HTTP/2 request, made to read as the pipeline reads every request. Node's compatibility API
// (Http2ServerRequest, Http2ServerResponse) has the members the pipeline, the forwarder and the
// response writer use — method, url (`:path`), headers, rawHeaders, socket, the body as a
// stream; writeHead, setHeader, write, end, addTrailers, destroy — so the same pipeline serves
// both protocols, and only the host needs a hand.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';

/**
 * The request's host, where the pipeline looks for it: HTTP/2 carries it in `:authority`
 * (RFC 9113 §8.3.1), and a `Host` header only when the client set one. Without `Host`, the
 * authority becomes it. Security: with both and a difference, the authority is added as a second
 * `Host`, which the pipeline refuses (HOST_DUPLICATE): we and a server behind us could otherwise
 * each route by another.
 */
export function adoptHttp2Request(req: Http2ServerRequest, res: Http2ServerResponse): { req: IncomingMessage; res: ServerResponse } {
  const authority = req.headers[':authority'];
  if (typeof authority === 'string') {
    const host = req.headers.host;
    if (host === undefined) {
      req.headers.host = authority;
      req.rawHeaders.push('host', authority);
    } else if (host.toLowerCase() !== authority.toLowerCase()) {
      req.rawHeaders.push('host', authority);
    }
  }
  return { req: req as unknown as IncomingMessage, res: res as unknown as ServerResponse };
}

/** The HTTP/2 stream under a compatibility-API request; null for HTTP/1.1. */
export function http2StreamOf(req: IncomingMessage): Http2ServerRequest['stream'] | null {
  return req.httpVersionMajor === 2 ? (req as unknown as Http2ServerRequest).stream : null;
}

/**
 * Cuts a response that has started, so that the client sees it truncated: HTTP/1.1 closes the
 * connection; HTTP/2 resets the stream with INTERNAL_ERROR (destroying it without an error would
 * reset it with NO_ERROR, or not at all while the client has data left to read, and the
 * stream would hang).
 */
export function cutResponse(req: IncomingMessage, res: ServerResponse): void {
  const stream = http2StreamOf(req);
  if (stream === null) res.destroy();
  else if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
}
