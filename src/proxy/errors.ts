// The proxy's own answers: one catalogue of stable codes, each with one HTTP status, rendered
// as JSON for API clients and as a small HTML page for browsers.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

export const PROXY_ERRORS = {
  TARGET_INVALID: { status: 400, title: 'Bad request' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  POLICY_NOT_FOUND: { status: 503, title: 'Service unavailable' },
  POLICY_INVALID: { status: 503, title: 'Service unavailable' },
  POLICY_NOT_READY: { status: 503, title: 'Service unavailable' },
  BACKEND_UNRESOLVED: { status: 503, title: 'Service unavailable' },
  NO_BACKENDS: { status: 503, title: 'Service unavailable' },
  NO_HEALTHY_BACKEND: { status: 503, title: 'Service unavailable' },
  RULE_INVALID: { status: 503, title: 'Service unavailable' },
  UPSTREAM_CONNECT_FAILED: { status: 502, title: 'Bad gateway' },
  UPSTREAM_RESET: { status: 502, title: 'Bad gateway' },
  UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Bad gateway' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Gateway timeout' },
  UPSTREAM_BUSY: { status: 503, title: 'Service unavailable' },
  REQUEST_INVALID: { status: 400, title: 'Bad request' },
  CLIENT_BODY_TIMEOUT: { status: 408, title: 'Request timeout' },
  SHUTTING_DOWN: { status: 503, title: 'Service unavailable' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

export interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** Extra response headers, e.g. WWW-Authenticate. */
  readonly headers?: Readonly<Record<string, string>>;
}

export function proxyError(code: ProxyErrorCode, message: string): ErrorAnswer {
  return { status: PROXY_ERRORS[code].status, code, message };
}

/** Browsers asking for a page get HTML; everything else (APIs, curl, fetch) gets JSON. */
export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

export function renderError(req: IncomingMessage, answer: ErrorAnswer, requestId: string): { contentType: string; body: string } {
  if (wantsHtml(req)) {
    const title = `${answer.status} ${STATUS_TITLES[answer.status] ?? 'Error'}`;
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head><body><h1>${title}</h1><p>${escapeHtml(answer.message)}</p><p><small>Code <code>${escapeHtml(answer.code)}</code> · request <code>${escapeHtml(requestId)}</code> · Portcullis</small></p></body></html>
`;
    return { contentType: 'text/html; charset=utf-8', body };
  }
  return { contentType: 'application/json', body: `${JSON.stringify({ error: { code: answer.code, status: answer.status, message: answer.message, requestId } })}\n` };
}

export function sendError(req: IncomingMessage, res: ServerResponse, answer: ErrorAnswer, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { contentType, body } = renderError(req, answer, requestId);
  endAnswer(
    req,
    res,
    answer.status,
    {
      ...answer.headers,
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-request-id': requestId,
    },
    req.method === 'HEAD' ? undefined : body,
  );
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
 * Writes and ends an answer of the proxy's own (a refusal, an error), whatever became of the
 * request's body. Node would read and discard a body the answer left unread, to keep the
 * connection: a refused 1 GB upload would be read in full. Here only a small body nobody
 * started to read (UNREAD_BODY_DRAIN_LIMIT) is left to Node; otherwise the answer says
 * `Connection: close`, nothing more of the body is read, and the connection closes
 * UNREAD_BODY_LINGER_MS after the answer was written.
 */
export function endAnswer(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string | undefined): void {
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

/**
 * For an answer written elsewhere (the guard's redirects and sign-in endpoints, meant for
 * navigations, which carry no body): it said `keep-alive` as Node chose, and once it is sent
 * Node would read and discard whatever body is left. A body that endAnswer() would not leave to
 * Node is not drained: the connection is closed as soon as the answer is sent.
 */
export function closeIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!leavesBodyUnread(req)) return;
  // After Node's own 'finish' handler, which starts the drain: it stops there.
  if (res.writableFinished) req.socket.destroy();
  else res.once('finish', () => req.socket.destroy());
}

/** True when a body is still to come that Node would read in full, or could not read (already read in part). */
function leavesBodyUnread(req: IncomingMessage): boolean {
  if (req.complete || req.readableEnded) return false;
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) return false;
  // Read in part (a client cut for sending too slowly): Node would not drain the rest, and the
  // connection would hang.
  return chunked || Number(length) > UNREAD_BODY_DRAIN_LIMIT || req.readableFlowing !== null;
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
