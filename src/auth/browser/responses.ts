// The browser flow's own answers, written to the response with any cookies to set or clear
// (the pipeline's error answers carry one header value each; a session has several cookies).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DecisionLog, GuardDecision } from '../../proxy/guard.ts';
import { escapeHtml, renderError, type ErrorAnswer } from '../../proxy/errors.ts';

/** Codes of the browser flow's answers, each with one HTTP status. */
export const BROWSER_ERRORS = {
  SESSION_REQUIRED: 401,
  SIGNIN_DENIED: 403,
  SIGNIN_REQUIRED_AT_PROVIDER: 401,
  SIGNIN_REJECTED: 502,
  SIGNIN_STATE_MISMATCH: 400,
  SIGNIN_FAILED: 502,
  SESSION_TOO_LARGE: 500,
  SESSION_STORE_UNAVAILABLE: 503,
  PROVIDER_UNAVAILABLE: 503,
  METHOD_NOT_ALLOWED: 405,
} as const;

export type BrowserErrorCode = keyof typeof BROWSER_ERRORS;

export function browserError(code: BrowserErrorCode, message: string): ErrorAnswer {
  return { status: BROWSER_ERRORS[code], code, message };
}

/**
 * Writes an answer with a body. Its log's reason becomes the body's code, so that a log line
 * and the answer a client saw carry the same code; the finer reason the flow had is kept as cause.
 */
export function sendAnswer(req: IncomingMessage, res: ServerResponse, answer: ErrorAnswer, cookies: readonly string[], requestId: string, log: DecisionLog): GuardDecision {
  const { contentType, body } = renderError(req, answer, requestId);
  res.writeHead(answer.status, {
    ...answer.headers,
    ...(cookies.length > 0 ? { 'set-cookie': [...cookies] } : {}),
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return { kind: 'handled', status: answer.status, log: answeredLog(log, answer.code) };
}

/** The log of a decision answered with `code`: reason = code, and the decision's own reason as cause when it differs. */
export function answeredLog(log: DecisionLog, code: string): DecisionLog {
  return log.reason === code ? log : { ...log, reason: code, cause: log.reason };
}

export function sendRedirect(res: ServerResponse, location: string, cookies: readonly string[], requestId: string, log: DecisionLog): GuardDecision {
  res.writeHead(302, { location, ...(cookies.length > 0 ? { 'set-cookie': [...cookies] } : {}), 'cache-control': 'no-store', 'content-length': 0, 'x-request-id': requestId });
  res.end();
  return { kind: 'handled', status: 302, log };
}

/**
 * Back to the return target through a page of our own rather than a 302: with SameSite=Strict a
 * browser withholds the new session cookie on a redirect chain that began at the provider, and
 * the user would be sent to sign in again. A navigation started by this page is same-site.
 */
export function sendContinuePage(res: ServerResponse, location: string, cookies: readonly string[], requestId: string, log: DecisionLog): GuardDecision {
  const href = escapeHtml(location);
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}"><title>Signed in</title></head>
<body><p>Signed in. <a href="${href}">Continue</a>.</p></body></html>
`;
  res.writeHead(200, {
    ...(cookies.length > 0 ? { 'set-cookie': [...cookies] } : {}),
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'",
    'x-request-id': requestId,
  });
  res.end(body);
  return { kind: 'handled', status: 200, log };
}
