// Every answer of the proxy's own is written here: errors (JSON for API clients, a small HTML
// page for browsers), redirects (to sign in, after the callback, to HTTPS), pages, documents
// (the assertion keys), and refused WebSocket upgrades on the raw socket. What to answer is
// decided elsewhere, as data (src/model/answer.ts): by the pipeline, and by the guard.
import { STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Answer, ErrorAnswer, PageAnswer } from '../model/answer.ts';
import { confirmPage, errorPage, errorText, escapeHtml, identityJSON, identityPage, identityText, noticePage, noticeText, pagePolicy } from './pages.ts';
import { encodeGrpcMessage, GRPC_STATUS, grpcStatusOf, isGrpcRequest } from './h2/grpc.ts';
import { cutResponse } from './h2/request.ts';

const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';

/**
 * Browsers asking for a page get HTML; a client asking for text and not for JSON gets text
 * (`Accept: text/plain`); everything else (APIs, curl, fetch, axios, which asks for
 * `application/json, text/plain` and any type) gets JSON, whose bodies outside checks rely on:
 * they never change.
 */
function preferred(req: IncomingMessage): 'html' | 'text' | 'json' {
  const accept = req.headers.accept;
  if (typeof accept !== 'string') return 'json';
  if (accept.includes('text/html')) return 'html';
  return accept.includes('text/plain') && !accept.includes('json') ? 'text' : 'json';
}

/** The headers of a page of ours: its policy, and no framing by any site (for browsers without frame-ancestors). */
function pageHeaders(formOrigins?: readonly string[]): Record<string, string> {
  return { 'content-type': HTML, 'content-security-policy': pagePolicy(formOrigins), 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' };
}

function renderError(req: IncomingMessage, answer: ErrorAnswer, requestId: string): { headers: Record<string, string>; body: string } {
  switch (preferred(req)) {
    case 'html':
      return { headers: pageHeaders(answer.page?.formOrigins), body: errorPage(answer, requestId) };
    case 'text':
      return { headers: { 'content-type': TEXT }, body: errorText(answer, requestId) };
    case 'json':
      return { headers: { 'content-type': 'application/json' }, body: `${JSON.stringify({ error: { code: answer.code, status: answer.status, message: answer.message, requestId } })}\n` };
  }
}

/**
 * A page that sends the browser on at once (and links there, should the refresh not run). A
 * navigation started by a page of ours is same-site: see signin.ts for why that matters.
 */
function renderPage(page: PageAnswer): string {
  const href = escapeHtml(page.next);
  const title = escapeHtml(page.title);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}"><title>${title}</title></head>
<body><p>${title}. <a href="${href}">Continue</a>.</p></body></html>
`;
}

/** An answer's own headers and body; the writers below add what every answer carries. */
function contentOf(req: IncomingMessage, answer: Answer, requestId: string): { headers: Record<string, string>; body: string } {
  switch (answer.kind) {
    case 'error': {
      const { headers, body } = renderError(req, answer, requestId);
      return { headers: { ...answer.headers, ...headers }, body };
    }
    case 'redirect':
      return { headers: { location: answer.location }, body: '' };
    case 'page':
      return { headers: { 'content-type': HTML, 'content-security-policy': "default-src 'none'" }, body: renderPage(answer) };
    case 'confirm':
      return { headers: pageHeaders(answer.formOrigins), body: confirmPage(answer, requestId) };
    case 'document':
      return { headers: { 'content-type': answer.contentType }, body: answer.body };
    case 'identity': {
      const format = preferred(req);
      if (format === 'html') return { headers: pageHeaders(answer.formOrigins), body: identityPage(answer, requestId) };
      if (format === 'text') return { headers: { 'content-type': TEXT }, body: identityText(answer) };
      return { headers: { 'content-type': 'application/json' }, body: identityJSON(answer) };
    }
    case 'notice': {
      const format = preferred(req);
      if (format === 'html') return { headers: pageHeaders(), body: noticePage(answer, requestId) };
      if (format === 'text') return { headers: { 'content-type': TEXT }, body: noticeText(answer) };
      return { headers: { 'content-type': 'application/json' }, body: `${JSON.stringify({ title: answer.title, message: answer.message })}\n` };
    }
    case 'authorized':
      return { headers: { ...answer.headers }, body: '' };
  }
}

/**
 * Writes `answer`, with its cookies, the request's id, and no caching. When a response has
 * already started (the upstream's), it is cut instead, so that the truncation shows.
 */
export function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: Answer, requestId: string): void {
  if (res.headersSent) {
    cutResponse(req, res);
    return;
  }
  if (isGrpcRequest(req.headers) && writeGrpcAnswer(req, res, answer, requestId)) return;
  const { headers, body } = contentOf(req, answer, requestId);
  const cookies = answer.cookies ?? [];
  endAnswer(
    req,
    res,
    answer.status,
    {
      ...headers,
      ...(cookies.length > 0 ? { 'set-cookie': [...cookies] } : {}),
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-request-id': requestId,
    },
    req.method === 'HEAD' || body === '' ? undefined : body,
  );
}

/**
 * A refusal of a gRPC call, in the form its client reads (src/proxy/h2/grpc.ts): `200`,
 * `content-type: application/grpc`, `grpc-status` and `grpc-message`, and nothing after —
 * over HTTP/2 one HEADERS frame that ends the stream (trailers-only). A redirect is never sent
 * to a gRPC client: sign-in is UNAUTHENTICATED, HTTPS-only UNAVAILABLE. Answers that are not
 * refusals (documents, pages) are left to the usual writer: false.
 */
function writeGrpcAnswer(req: IncomingMessage, res: ServerResponse, answer: Answer, requestId: string): boolean {
  let status: number;
  let message: string;
  if (answer.kind === 'error') {
    status = grpcStatusOf(answer.status);
    message = answer.message;
  } else if (answer.kind === 'redirect') {
    status = answer.status === 302 ? GRPC_STATUS.UNAUTHENTICATED : GRPC_STATUS.UNAVAILABLE;
    message = answer.status === 302 ? 'This call needs a bearer token.' : 'This route is served over HTTPS only.';
  } else return false;
  // Set, not written: res.end() then sends them as the whole answer, with END_STREAM (writeHead()
  // would send them first, and end the stream with an empty DATA frame).
  res.statusCode = 200;
  if (answer.kind === 'error') for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  res.setHeader('content-type', 'application/grpc');
  res.setHeader('grpc-status', String(status));
  res.setHeader('grpc-message', encodeGrpcMessage(message));
  res.setHeader('x-request-id', requestId);
  res.setHeader('cache-control', 'no-store');
  if (req.httpVersionMajor !== 2) res.setHeader('content-length', 0);
  res.end();
  return true;
}

/**
 * A body at most this long that nobody started to read is still read and discarded after an
 * answer that ignored it, so that its connection can serve the next request (a small form, a
 * JSON document). A longer one is not read: the connection closes instead.
 */
export const UNREAD_BODY_DRAIN_LIMIT = 64 * 1024;

/**
 * How long an answer that leaves a body unread stays open before its connection closes (sooner
 * when the client closes it): closing while the body still arrives sends the client a reset,
 * which can destroy the answer before the client has read it. Nothing is read meanwhile; the
 * client's upload stalls on TCP flow control. Envoy's delayed_close_timeout is 1 s too.
 */
export const UNREAD_BODY_LINGER_MS = 1_000;

/**
 * Writes and ends an answer, whatever became of the request's body. Node would read and discard a
 * body the answer left unread, to keep the connection: a refused 1 GB upload would be read in
 * full. Here only a small body nobody started to read (UNREAD_BODY_DRAIN_LIMIT) is left to Node;
 * otherwise the answer says `Connection: close`, nothing more of the body is read, and the
 * connection closes UNREAD_BODY_LINGER_MS after the answer was written.
 */
function endAnswer(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string | undefined): void {
  if (!leavesBodyUnread(req)) {
    res.writeHead(status, headers);
    res.end(body);
    return;
  }
  res.shouldKeepAlive = false; // Connection: close; Node closes the connection once the answer ends
  req.pause();
  res.writeHead(status, headers);
  if (body !== undefined) res.write(body); // all of it (Content-Length): the client has the whole answer now
  const end = (): void => {
    clearTimeout(timer);
    res.off('close', end);
    if (!res.writableEnded && !res.destroyed) res.end();
  };
  const timer = setTimeout(end, UNREAD_BODY_LINGER_MS);
  res.once('close', end);
}

/** True when a body is still to come that Node would read in full, or could not read (already read in part). */
function leavesBodyUnread(req: IncomingMessage): boolean {
  // HTTP/2: the answer ends its own stream, and Node resets the request's side (NO_ERROR, RFC 9113
  // §8.1): nothing more of the body is read, and the connection stays.
  if (req.complete || req.readableEnded || req.httpVersionMajor === 2) return false;
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) return false;
  // Read in part (a client cut for sending too slowly): Node would not drain the rest, and the
  // connection would hang.
  return chunked || Number(length) > UNREAD_BODY_DRAIN_LIMIT || req.readableFlowing !== null;
}

/**
 * A refused WebSocket handshake: a plain HTTP/1.1 answer on the raw socket (its reason phrase an
 * error's code), then close. No cookies are set on a handshake.
 */
export function refuseUpgrade(req: IncomingMessage, socket: Duplex, answer: Answer, requestId: string): void {
  if (!socket.writable) return;
  const { headers, body } = contentOf(req, answer, requestId);
  const reason = answer.kind === 'error' ? answer.code : (STATUS_CODES[answer.status] ?? '');
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${answer.status} ${reason}\r\n${head}content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`);
}
