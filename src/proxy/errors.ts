// The proxy's own answers: one catalogue of stable codes, each with one HTTP status, rendered
// as JSON for API clients and as a small HTML page for browsers.
import type { IncomingMessage, ServerResponse } from 'node:http';

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
  closeIfBodyUnread(req, res);
  const { contentType, body } = renderError(req, answer, requestId);
  res.writeHead(answer.status, {
    ...answer.headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The most of a request body still to come that an answer leaves to Node to read and discard,
 * so that the connection can serve the next request (a small form, a JSON document).
 */
export const UNREAD_BODY_DRAIN_LIMIT = 64 * 1024;

/**
 * Call before (or, failing that, right after) any answer that does not read the request's body
 * — a refusal, an error, a redirect. Node reads and discards whatever body is left so that the
 * connection can serve another request: a refused 1 GB upload would be read in full. A body
 * declared at most UNREAD_BODY_DRAIN_LIMIT long is still left to Node; a longer one, or one of
 * unknown length (chunked), is not read: the answer says `Connection: close`, and Node closes
 * the connection once the answer is written. An answer already written (its head sent) cannot
 * say so any more: the connection is closed once it is sent.
 */
export function closeIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || req.readableEnded) return;
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const length = Number(req.headers['content-length'] ?? 0);
  if (!chunked && length <= UNREAD_BODY_DRAIN_LIMIT) return;
  if (!res.headersSent) {
    res.shouldKeepAlive = false;
    return;
  }
  if (res.writableFinished) req.socket.destroy();
  else res.once('finish', () => req.socket.destroy());
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
