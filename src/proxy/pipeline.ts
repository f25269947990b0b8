// The per-request pipeline: normalise → match → guard → forward, the same for every method and
// for WebSocket upgrades. Every answer of our own carries a stable code, and every answer — ours,
// the upstream's, a redirect, a refused upgrade — the request's id (X-Request-Id), which the
// upstream receives too and the access log records.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorFields, type Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { errorAnswer, type Answer, type DocumentAnswer } from '../model/answer.ts';
import { forwardedCookieHeader } from '../model/cookies.ts';
import type { ErrorCode } from '../model/errors.ts';
import type { Guard, GuardContext, GuardRequest } from '../model/guard.ts';
import type { CompiledRule, ForwardAction, RouteTable } from '../model/table.ts';
import { formatAccessLog, redactQuery, type AccessLogEntry } from './access-log.ts';
import {
  createSelectionState,
  forwardWithRetry,
  headersFromClient,
  proxyUpgrade,
  selectEndpoint,
  type Forwarder,
  type ForwardTimeouts,
} from './forward/index.ts';
import { clientScheme, requestIdOf, setForwardedHeaders, strippedHeaders, stripIdentityHeaders, type StrippedHeaders, type TrustedPeers } from './headers.ts';
import { normalizeTarget, singleHostHeader } from '../match/normalize.ts';
import { grpcTimeoutMs } from './h2/grpc.ts';
import { http2StreamOf } from './h2/request.ts';
import { refuseUpgrade, writeAnswer } from './respond.ts';
import { rewritePath } from './rewrite.ts';

export interface PipelineOptions {
  /** The table in force; read once per request, so a swap never changes a request in flight. */
  readonly table: () => RouteTable;
  readonly forwarder: Forwarder;
  readonly guard: Guard;
  readonly logger: Logger;
  readonly trustedPeers: TrustedPeers;
  /** The scheme of the listener this pipeline serves. */
  readonly scheme: 'http' | 'https';
  /** Used where a rule sets no timeout. */
  readonly timeouts: ForwardTimeouts;
  readonly metrics?: Metrics;
  /** The public HTTPS port that redirects to HTTPS name (443: none in the URL). */
  readonly httpsRedirectPort?: number;
  /** True while the process drains before it stops: answers then close their connection. */
  readonly draining?: () => boolean;
  /** Removed from every request besides the table's identity headers; default strippedHeaders(), the well-known ones. */
  readonly strippedHeaders?: StrippedHeaders;
  /** Documents of the proxy's own by path (the assertion keys' JWKS), served on every host. */
  readonly documents?: ReadonlyMap<string, () => DocumentAnswer>;
}

export const DEFAULT_TIMEOUTS: ForwardTimeouts = { connectMs: 5_000, headersMs: 60_000, bodyIdleMs: 60_000 };

export interface Pipeline {
  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void>;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
}

/** A request on its way upstream. */
interface Routed {
  readonly kind: 'forward';
  readonly rule: CompiledRule;
  readonly action: ForwardAction;
  readonly path: string;
  readonly query: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Set-Cookie lines the guard added for the upstream's answer. */
  readonly cookies: readonly string[];
  /** The table's session cookie names: the upstream's Set-Cookie lines for them are removed. */
  readonly proxyCookies: readonly string[];
}

/** What one request leaves behind: its access-log line, and the Route it matched (a metrics label). */
interface Trace {
  readonly log: AccessLogEntry;
  route: string;
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const selection = createSelectionState();
  const stripped = options.strippedHeaders ?? strippedHeaders();

  /**
   * Everything before forwarding: the rule and the headers to send, or the answer that ends the
   * request here. `trusted` says whether the peer is a trusted proxy.
   */
  async function route(req: IncomingMessage, upgrade: boolean, trace: Trace, trusted: boolean): Promise<Routed | Answer> {
    const { log } = trace;
    // Security: one Host only. With two, we and a server behind us could each route by another.
    const host = singleHostHeader(req.rawHeaders);
    if (typeof host === 'object') return errorAnswer(host.code, host.message);
    const target = normalizeTarget(req.url ?? '', host);
    if (!target.ok) return errorAnswer(target.code, target.message);
    log.path = target.query === '' ? target.path : `${target.path}?${redactQuery(target.query)}`;
    const table = options.table();

    // Security: the client's copy of every identity header goes first, on every route, public
    // ones included, and before the guard sees the request, so that whatever the guard sets next
    // is ours alone.
    const headers: Record<string, string | string[] | undefined> = headersFromClient(req.headers);
    stripIdentityHeaders(headers, table.identityHeaders, stripped);
    // The client's X-Request-Id is replaced by ours (which is a trusted proxy's own, if it sent one).
    headers['x-request-id'] = log.requestId;
    const request = (): GuardRequest => ({ method: req.method ?? 'GET', headers, authorizationCount: countAuthorization(req.rawHeaders) });
    const context = (route: string | null): GuardContext => ({
      requestId: log.requestId,
      scheme: clientScheme(req.headers, { peer: req.socket.remoteAddress, trusted, scheme: options.scheme }),
      host: host ?? target.host,
      hostname: target.host,
      route,
      path: target.path,
      query: target.query,
      upgrade,
    });

    // The proxy's own documents (the keys upstreams verify assertions with) and the browser
    // flow's callback and logout paths belong to the proxy, on every host: they are answered
    // before matching, so that no Route can take them over.
    const document = upgrade ? undefined : options.documents?.get(target.path);
    if (document !== undefined) {
      const method = req.method ?? 'GET';
      return method === 'GET' || method === 'HEAD' ? document() : errorAnswer('METHOD_NOT_ALLOWED', 'This document is read with GET.', { headers: { allow: 'GET, HEAD' } });
    }
    const endpointPolicies = upgrade ? undefined : table.authEndpoints.get(target.path);
    if (endpointPolicies !== undefined) {
      const decision = await options.guard.endpoint(request(), endpointPolicies, context(null));
      Object.assign(log, decision.log);
      return decision.answer;
    }

    const rule = table.matcher.match({ host: target.host, path: target.path, method: req.method ?? 'GET', headers: req.headers, query: target.query });
    if (rule === null) return errorAnswer('NOT_FOUND', 'No route matches this request.');
    log.route = rule.id;
    trace.route = rule.route.key;
    // Route.spec.tls.redirectHTTP: plain HTTP gets the same URL on HTTPS, before anything else.
    if (rule.httpsRedirect && options.scheme === 'http' && !upgrade) {
      const port = options.httpsRedirectPort ?? 443;
      const location = `https://${target.host}${port === 443 ? '' : `:${port}`}${target.path}${target.query === '' ? '' : `?${target.query}`}`;
      return { kind: 'redirect', status: 308, location };
    }
    const action = rule.action;
    if (action.kind === 'respond') return errorAnswer(action.code, action.message);

    let cookies: readonly string[] = [];
    if (action.policy !== null) {
      const decision = await options.guard.check(request(), action.policy, context(rule.route.key));
      Object.assign(log, decision.log);
      if (decision.kind === 'answer') return decision.answer;
      // Verified identity only: set after the strip above, never merged with the client's.
      Object.assign(headers, decision.identity);
      // Unset, not deleted (here and below): a header left undefined is not sent, and the object
      // keeps its fast shape for the rest of the request.
      headers.authorization = decision.authorization ?? undefined;
      cookies = decision.cookies;
    }
    // Security: our cookies stay ours, here and nowhere else, on every rule (public, bearer and
    // browser alike): a session cookie replayed by an upstream would be that user's session, and
    // a login attempt's carries its PKCE verifier.
    headers.cookie = forwardedCookieHeader(headers.cookie, table.proxyCookies) ?? undefined;
    return { kind: 'forward', rule, action, path: target.path, query: target.query, headers, cookies, proxyCookies: table.proxyCookies };
  }

  function prepareHeaders(req: IncomingMessage, routed: Routed, trusted: boolean): void {
    const host = typeof req.headers.host === 'string' ? req.headers.host : undefined;
    setForwardedHeaders(routed.headers, { peer: req.socket.remoteAddress, trusted, scheme: options.scheme }, host);
    if (routed.action.rewrite?.hostname) routed.headers.host = routed.action.rewrite.hostname;
  }

  function upstreamPath(routed: Routed): string {
    const path = routed.action.rewrite?.path ? rewritePath(routed.path, routed.rule.path, routed.action.rewrite.path) : routed.path;
    return routed.query === '' ? path : `${path}?${routed.query}`;
  }

  function timeoutsFor(action: ForwardAction): ForwardTimeouts {
    const backend = action.timeouts.backendRequestMs;
    return backend === null ? options.timeouts : { ...options.timeouts, headersMs: backend };
  }

  function writeLog({ log, route }: Trace): void {
    options.logger.access(log.status >= 500 ? 'warn' : 'info', formatAccessLog(log));
    const metrics = options.metrics;
    if (metrics !== undefined) {
      metrics.request(route, log.status, log.durationMs / 1000);
      if (log.policy !== undefined && log.decision !== undefined && log.reason !== undefined) metrics.decision(log.policy, log.decision, log.reason, log.cause);
    }
  }

  return {
    async handleRequest(req, res) {
      const started = performance.now();
      const trusted = options.trustedPeers.has(req.socket.remoteAddress);
      const trace = startTrace(req, trusted);
      const { log } = trace;
      // While draining, clients are told to reconnect (to another replica) after this answer
      // (HTTP/2: GOAWAY, the streams in flight finish).
      if (options.draining?.()) {
        res.shouldKeepAlive = false;
        http2StreamOf(req)?.session?.close();
      }
      try {
        const routed = await route(req, false, trace, trusted);
        if (routed.kind !== 'forward') {
          answer(req, res, routed, log);
          return;
        }
        prepareHeaders(req, routed, trusted);
        if (routed.cookies.length > 0) res.setHeader('set-cookie', routed.cookies);
        // A gRPC call's deadline (grpc-timeout) bounds it here too, as the rule's request timeout does.
        const requestMs = shorter(routed.action.timeouts.requestMs, grpcTimeoutMs(req.headers));
        const signal = requestMs === null ? null : AbortSignal.timeout(requestMs);
        const path = upstreamPath(routed);
        const timeouts = timeoutsFor(routed.action);
        const upstreamStarted = performance.now();
        const outcome = await forwardWithRetry(options.forwarder, req, res, routed.action.upstreams, selection, (endpoint) => ({
          origin: endpoint.origin,
          h2c: endpoint.h2c === true,
          path,
          headers: routed.headers,
          timeouts,
          signal,
          requestId: log.requestId,
          proxyCookies: routed.proxyCookies,
        }));
        if (outcome !== null) options.metrics?.upstream(trace.route, (performance.now() - upstreamStarted) / 1000, outcome.error?.code ?? null);
        if (outcome === null) {
          answer(req, res, errorAnswer('NO_HEALTHY_BACKEND', 'No backend of this route has a ready endpoint.'), log);
          return;
        }
        Object.assign(log, { upstream: outcome.origin, attempts: outcome.attempts, bytesIn: outcome.requestBytes, bytesOut: outcome.responseBytes });
        if (outcome.error === null) log.status = outcome.status ?? 0;
        else if (!outcome.responseStarted && outcome.error.code !== 'CLIENT_CLOSED') {
          const retryAfter = outcome.error.code === 'UPSTREAM_BUSY' ? { 'retry-after': UPSTREAM_BUSY_RETRY_AFTER } : undefined;
          answer(req, res, errorAnswer(outcome.error.code, upstreamMessage(outcome.error.code), retryAfter === undefined ? {} : { headers: retryAfter }), log);
        } else {
          log.status = outcome.error.status;
          log.code = outcome.error.code;
        }
      } catch (error) {
        options.logger.error({ requestId: log.requestId, err: errorFields(error) }, 'request failed');
        answer(req, res, errorAnswer('INTERNAL', 'The proxy failed to handle this request.'), log);
      } finally {
        log.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
        writeLog(trace);
      }
    },

    async handleUpgrade(req, socket, head) {
      const started = performance.now();
      const trusted = options.trustedPeers.has(req.socket.remoteAddress);
      const trace = startTrace(req, trusted);
      const { log } = trace;
      try {
        const routed = await route(req, true, trace, trusted);
        if (routed.kind !== 'forward') {
          refuse(req, socket, routed, log);
          return;
        }
        prepareHeaders(req, routed, trusted);
        const pick = selectEndpoint(routed.action.upstreams, selection);
        if (pick === null) {
          refuse(req, socket, errorAnswer('NO_HEALTHY_BACKEND', 'No backend of this route has a ready endpoint.'), log);
          return;
        }
        const timeouts = timeoutsFor(routed.action);
        const outcome = await proxyUpgrade(req, socket, head, { origin: pick.endpoint.origin, path: upstreamPath(routed), headers: routed.headers, timeouts, signal: null, requestId: log.requestId, proxyCookies: routed.proxyCookies, cookies: routed.cookies });
        Object.assign(log, { upstream: outcome.origin, status: outcome.status ?? outcome.error?.status ?? 0 });
        if (outcome.error) log.code = outcome.error.code;
      } catch (error) {
        options.logger.error({ requestId: log.requestId, err: errorFields(error) }, 'upgrade failed');
        refuse(req, socket, errorAnswer('INTERNAL', 'The proxy failed to handle this request.'), log);
      } finally {
        log.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
        writeLog(trace);
      }
    },
  };
}

/** The shorter of two optional timeouts. */
function shorter(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function startTrace(req: IncomingMessage, trusted: boolean): Trace {
  const log: AccessLogEntry = { requestId: requestIdOf(req.headers, trusted), method: req.method ?? '', host: req.headers.host, path: '', status: 0, durationMs: 0, peer: req.socket.remoteAddress };
  return { log, route: 'none' };
}

/** Authorization headers in the request as sent: Node keeps the first only, and the guard refuses two. */
function countAuthorization(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === 13 && rawHeaders[i]!.toLowerCase() === 'authorization') count++;
  return count;
}

function answer(req: IncomingMessage, res: ServerResponse, reply: Answer, log: AccessLogEntry): void {
  recordAnswer(log, reply);
  writeAnswer(req, res, reply, log.requestId);
}

function refuse(req: IncomingMessage, socket: Duplex, reply: Answer, log: AccessLogEntry): void {
  recordAnswer(log, reply);
  refuseUpgrade(req, socket, reply, log.requestId);
}

/**
 * The access log of one of our answers: its status, an error's code, and when the guard denied
 * the request, its reason made equal to that code (the finer reason kept as cause), so that the
 * log and the client agree. (After an allow, the reason stays the allow's: the answer came
 * later, e.g. a 502.)
 */
function recordAnswer(log: AccessLogEntry, reply: Answer): void {
  log.status = reply.status;
  if (reply.kind !== 'error') return;
  log.code = reply.code;
  if (log.decision === 'deny' && log.reason !== reply.code) {
    log.cause = log.reason;
    log.reason = reply.code;
  }
}

/** Seconds: an upstream's connections free up as fast as its requests finish. */
const UPSTREAM_BUSY_RETRY_AFTER = '1';

function upstreamMessage(code: ErrorCode): string {
  switch (code) {
    case 'UPSTREAM_BUSY':
      return 'The upstream is busy: no connection to it became free in time. Retry later.';
    case 'CLIENT_BODY_TIMEOUT':
      return 'The request body stopped arriving.';
    case 'UPSTREAM_TIMEOUT':
      return 'The upstream did not answer in time.';
    case 'UPSTREAM_CONNECT_FAILED':
      return 'The upstream could not be reached.';
    case 'REQUEST_INVALID':
      return 'The request cannot be forwarded as sent.';
    default:
      return 'The upstream connection failed.';
  }
}
