// The forward-auth listener (--auth-listen): another proxy (nginx auth_request, Traefik
// ForwardAuth, Envoy ext_authz) asks whether a request it holds may pass, and with which headers.
// The original request is read from the check as the listener's convention says
// (check-conventions.ts), then decided by the same resolve → admit as the proxy's own requests
// (pipeline.ts, createDecisions): one table, one normaliser, one guard.
//
// Answers: allowed → 200 with the identity headers and X-Portcullis-Assertion as response headers
// (the caller copies them upstream); refused → the proxy's own 401/403 (JSON body,
// WWW-Authenticate). A browser without a session gets the redirect to sign in, except from nginx,
// which passes on only 2xx, 401 and 403: there it is 401, and nginx's error_page sends the
// browser to /.well-known/portcullis/start.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ASSERTION_HEADER } from '../auth/assertion/signer.ts';
import { ID_TOKEN_HEADER } from '../auth/browser/flow.ts';
import { DEFAULT_HEADERS } from '../auth/identity.ts';
import { errorAnswer, type Answer } from '../model/answer.ts';
import { forwardedCookieHeader } from '../model/cookies.ts';
import type { AllowDecision } from '../model/guard.ts';
import { singleHostHeader } from '../match/normalize.ts';
import { errorFields, type Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { describeCheck, type CheckConvention } from './check-conventions.ts';
import { clientScheme, type TrustedPeers } from './headers.ts';
import { createDecisions, recordAnswer, SIGNIN_START_PATH, startTrace, writeTrace, type DecisionOptions, type Inbound, type Located, type Pipeline, type Trace } from './pipeline.ts';
import { refuseUpgrade, writeAnswer } from './respond.ts';

export interface AuthListenerOptions extends DecisionOptions {
  readonly convention: CheckConvention;
  /** Checks are answered for these peers only: their description of a request is believed, nobody else's. */
  readonly trustedPeers: TrustedPeers;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Envoy's `path_prefix`: the original path follows it (default none). */
  readonly envoyPrefix?: string;
  /** A request no Route matches is allowed (200, no identity) rather than refused with 403 NO_ROUTE. */
  readonly defaultAllow?: boolean;
  /** The scheme of this listener, for requests that describe none. */
  readonly scheme: 'http' | 'https';
  /** True while the process drains before it stops: answers then close their connection. */
  readonly draining?: () => boolean;
}

/** Identity headers an allowed answer always names, as the table's do. */
const ANSWERED_IDENTITY_HEADERS: readonly string[] = [...Object.values(DEFAULT_HEADERS), ASSERTION_HEADER, ID_TOKEN_HEADER];

/**
 * The headers of an allowed answer, for the caller to set on the request it forwards:
 * - every identity header (the default ones, the assertion, every one any policy maps a claim
 *   to), with the caller's value or empty: a caller that copies them (Traefik's
 *   authResponseHeaders, Envoy's allowed_upstream_headers, nginx's proxy_set_header) replaces
 *   the client's own copies, which it forwards otherwise;
 * - Cookie: the request's Cookie header without Portcullis's cookies (our cookies stay ours),
 *   when it had one;
 * - Authorization, when the policy forwards the access token.
 */
function upstreamHeaders(located: Located, allow: AllowDecision | null): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ANSWERED_IDENTITY_HEADERS) headers[name] = '';
  for (const name of located.identityHeaders) headers[name] = '';
  if (allow !== null) Object.assign(headers, allow.identity);
  const cookie = located.inbound.headers.cookie;
  if (cookie !== undefined) headers.cookie = forwardedCookieHeader(cookie, located.proxyCookies) ?? '';
  if (allow !== null && allow.authorization !== null) headers.authorization = allow.authorization;
  return headers;
}

/** On nginx's 401 for a browser: where to send it to sign in (see forCaller). */
export const SIGNIN_HEADER = 'x-portcullis-signin';

/** The checks of one listener, as a Pipeline so that the proxy's server (src/proxy/server.ts) serves them. */
export function createAuthListener(options: AuthListenerOptions): Pipeline {
  const decisions = createDecisions(options);
  const envoyPrefix = options.envoyPrefix ?? '';

  async function check(req: IncomingMessage, trusted: boolean, trace: Trace): Promise<Answer> {
    // Security: only a trusted proxy's description of a request is believed; anybody else could
    // describe whatever request would pass.
    if (!trusted) return errorAnswer('PEER_NOT_TRUSTED', 'This listener answers checks from trusted proxies only (--trust-proxy).');
    const host = singleHostHeader(req.rawHeaders);
    if (typeof host === 'object') return errorAnswer(host.code, host.message);
    const method = req.method ?? 'GET';
    const described = describeCheck(options.convention, { method, url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, host }, envoyPrefix);
    if (described.kind === 'invalid') return errorAnswer('CHECK_INVALID', described.message);

    if (described.kind === 'direct') {
      // A request for the listener itself (nginx routes the callback, logout and sign-in start
      // paths here): only the proxy's own paths are answered.
      const scheme = clientScheme(req.headers, { peer: req.socket.remoteAddress, trusted, scheme: options.scheme });
      const own = decisions.resolve({ method, target: req.url ?? '', host, headers: req.headers, rawHeaders: req.rawHeaders, scheme, upgrade: false }, trace);
      if (own instanceof Promise || own.kind !== 'located') return own;
      return errorAnswer('CHECK_INVALID', 'The check describes no original request: nginx sets X-Original-URI or X-Original-URL, and X-Original-Method.');
    }

    // The access log names the request checked, not the check.
    trace.log.method = described.method;
    trace.log.host = described.host;
    const inbound: Inbound = { method: described.method, target: described.target, host: described.host, headers: req.headers, rawHeaders: req.rawHeaders, scheme: described.scheme, upgrade: false };
    const located = decisions.resolve(inbound, trace);
    if (located instanceof Promise) return forCaller(notAnAllow(await located), null);
    if (located.kind !== 'located') return forCaller(notAnAllow(located), null);
    const rule = located.rule;
    // Fail closed: a request no Route describes is nobody's to let through.
    if (rule === null) return options.defaultAllow ? { kind: 'authorized', status: 200, headers: upstreamHeaders(located, null) } : errorAnswer('NO_ROUTE', 'No route matches the request this check describes.');
    const action = rule.action;
    if (action.kind === 'respond') return errorAnswer(action.code, action.message);
    const admitted = await decisions.admit(located, action.policy, trace);
    if (admitted.kind !== 'admitted') return forCaller(admitted, located.query === '' ? located.path : `${located.path}?${located.query}`);
    return { kind: 'authorized', status: 200, headers: upstreamHeaders(located, admitted.allow), cookies: admitted.cookies };
  }

  /**
   * Security: a caller lets the described request through on any 2xx. The proxy's own paths
   * answer 200 for themselves (a page, the keys), which must not send that request on to the
   * caller's upstream unchecked: such an answer becomes a refusal. Callers route those paths to
   * Portcullis itself (docs/forward-auth.md), where they are answered as on the proxy listener.
   */
  function notAnAllow(answer: Answer): Answer {
    if (answer.status < 200 || answer.status > 299) return answer;
    return errorAnswer('NO_ROUTE', "This check describes a request for one of the proxy's own paths: route that path to Portcullis itself, not through a check.");
  }

  /**
   * nginx passes on 2xx, 401 and 403 only: the redirect to sign in becomes 401, with the sign-in
   * start for the original target in X-Portcullis-Signin, where nginx's error_page 401 sends the
   * browser (a 401 without it is a machine's: it stays 401).
   */
  function forCaller(answer: Answer, target: string | null): Answer {
    if (options.convention !== 'nginx' || answer.kind !== 'redirect') return answer;
    const signIn = target === null ? undefined : { [SIGNIN_HEADER]: `${SIGNIN_START_PATH}?rd=${encodeURIComponent(target)}` };
    return errorAnswer('SESSION_REQUIRED', 'Sign in first: this request carries no valid session.', signIn === undefined ? {} : { headers: signIn });
  }

  async function run(req: IncomingMessage, write: (answer: Answer, trace: Trace) => void, what: string): Promise<void> {
    const started = performance.now();
    const trusted = options.trustedPeers.has(req.socket.remoteAddress);
    const trace = startTrace(req, trusted);
    try {
      write(await check(req, trusted, trace), trace);
    } catch (error) {
      options.logger.error({ requestId: trace.log.requestId, err: errorFields(error) }, `${what} failed`);
      write(errorAnswer('INTERNAL', 'The proxy failed to handle this check.'), trace);
    } finally {
      trace.log.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      writeTrace(trace, options.logger, options.metrics);
    }
  }

  return {
    async handleRequest(req: IncomingMessage, res: ServerResponse) {
      if (options.draining?.()) res.shouldKeepAlive = false;
      await run(
        req,
        (answer, { log }) => {
          recordAnswer(log, answer);
          writeAnswer(req, res, answer, log.requestId);
        },
        'check',
      );
    },
    // A check that arrives as a WebSocket handshake is answered the same, on the raw socket.
    async handleUpgrade(req: IncomingMessage, socket: Duplex) {
      await run(
        req,
        (answer, { log }) => {
          recordAnswer(log, answer);
          refuseUpgrade(req, socket, answer, log.requestId);
        },
        'check',
      );
    },
  };
}
