// The per-request pipeline: normalise → match → guard → forward, the same for every method and
// for WebSocket upgrades. Every answer of our own carries a stable code.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ACCESS_LOG_MESSAGE, errorFields, type Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { CompiledRule, ForwardAction, RouteTable } from '../model/table.ts';
import { redactQuery, type AccessLogEntry } from './access-log.ts';
import { closeIfBodyUnread, proxyError, renderError, sendError, type ErrorAnswer } from './errors.ts';
import {
  createSelectionState,
  forwardWithRetry,
  headersFromClient,
  proxyUpgrade,
  selectEndpoint,
  type Forwarder,
  type ForwardTimeouts,
} from './forward/index.ts';
import type { Guard, GuardContext, GuardDecision } from './guard.ts';
import { clientScheme, setForwardedHeaders, stripIdentityHeaders, type TrustedPeers } from './headers.ts';
import { normalizeTarget } from './normalize.ts';
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
}

export const DEFAULT_TIMEOUTS: ForwardTimeouts = { connectMs: 5_000, headersMs: 60_000, bodyIdleMs: 60_000 };

export interface Pipeline {
  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void>;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
}

interface Routed {
  readonly rule: CompiledRule;
  readonly action: ForwardAction;
  readonly path: string;
  readonly query: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly decision: GuardDecision | null;
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const selection = createSelectionState();

  /** Everything before forwarding; an ErrorAnswer or 'handled' ends the request there. */
  async function route(req: IncomingMessage, res: ServerResponse | null, log: AccessLogEntry, upgrade: boolean): Promise<Routed | ErrorAnswer | 'handled'> {
    const host = typeof req.headers.host === 'string' ? req.headers.host : undefined;
    const target = normalizeTarget(req.url ?? '', host);
    if (!target.ok) return { status: 400, code: target.code, message: target.message };
    log.path = target.query === '' ? target.path : `${target.path}?${redactQuery(target.query)}`;

    const table = options.table();
    const context = (): GuardContext => {
      const trusted = options.trustedPeers.has(req.socket.remoteAddress);
      return {
        requestId: log.requestId,
        scheme: clientScheme(req.headers, { peer: req.socket.remoteAddress, trusted, scheme: options.scheme }),
        host: host ?? target.host,
        path: target.path,
        query: target.query,
        upgrade,
      };
    };

    // The browser flow's callback and logout paths belong to the proxy, on every host.
    const endpointPolicies = res === null ? undefined : table.authEndpoints.get(target.path);
    if (endpointPolicies !== undefined && res !== null) {
      const decision = await options.guard.endpoint(req, res, endpointPolicies, context());
      Object.assign(log, decision.log);
      if (decision.kind === 'answer') return decision.answer;
      log.status = decision.kind === 'handled' ? decision.status : 500;
      return 'handled';
    }

    const rule = table.matcher.match({ host: target.host, path: target.path, method: req.method ?? 'GET', headers: req.headers, query: target.query });
    if (rule === null) return proxyError('NOT_FOUND', 'No route matches this request.');
    log.route = rule.id;
    // Route.spec.tls.redirectHTTP: plain HTTP gets the same URL on HTTPS, before anything else.
    if (rule.httpsRedirect && options.scheme === 'http' && res !== null) {
      const port = options.httpsRedirectPort ?? 443;
      const location = `https://${target.host}${port === 443 ? '' : `:${port}`}${target.path}${target.query === '' ? '' : `?${target.query}`}`;
      res.writeHead(308, { location, 'content-length': 0, 'cache-control': 'no-store' });
      res.end();
      log.status = 308;
      return 'handled';
    }
    const action = rule.action;
    if (action.kind === 'respond') return { status: action.status, code: action.code, message: action.message };

    // Security: the client's copy of every identity header goes first, on every route, public
    // ones included, so that whatever the guard sets next is ours alone.
    const headers: Record<string, string | string[] | undefined> = headersFromClient(req.headers);
    stripIdentityHeaders(headers, table.identityHeaders);

    let decision: GuardDecision | null = null;
    if (action.policy !== null) {
      decision = await options.guard.check(req, res, action.policy, context());
      Object.assign(log, decision.log);
      if (decision.kind === 'answer') return decision.answer;
      if (decision.kind === 'handled') {
        log.status = decision.status;
        return 'handled';
      }
      // Verified identity only: set after the strip above, never merged with the client's.
      Object.assign(headers, decision.identity);
      if (decision.authorization === null) delete headers.authorization;
      else headers.authorization = decision.authorization;
      // Our cookies stay ours: the guard hands back the Cookie header without the proxy's own
      // session and login cookies, which carry tokens and PKCE verifiers.
      if (decision.cookie === null) delete headers.cookie;
      else if (decision.cookie !== undefined) headers.cookie = decision.cookie;
    }
    // Security: our cookies stay ours on public rules and bearer-only policies too; a session
    // cookie replayed by an upstream would be that user's session.
    if ((decision === null || decision.kind !== 'allow' || decision.cookie === undefined) && options.guard.forwardedCookie !== undefined && headers.cookie !== undefined) {
      const cookie = options.guard.forwardedCookie(headers.cookie);
      if (cookie === null) delete headers.cookie;
      else headers.cookie = cookie;
    }
    return { rule, action, path: target.path, query: target.query, headers, decision };
  }

  function prepareHeaders(req: IncomingMessage, routed: Routed): void {
    const trusted = options.trustedPeers.has(req.socket.remoteAddress);
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

  function writeLog(log: AccessLogEntry): void {
    const level = log.status >= 500 ? 'warn' : 'info';
    options.logger[level](log, ACCESS_LOG_MESSAGE);
    const metrics = options.metrics;
    if (metrics !== undefined) {
      metrics.request(routeName(log.route), log.status, log.durationMs / 1000);
      if (log.policy !== undefined && log.decision !== undefined && log.reason !== undefined) metrics.decision(log.policy, log.decision, log.reason);
    }
  }

  return {
    async handleRequest(req, res) {
      const started = performance.now();
      const log: AccessLogEntry = { requestId: randomUUID(), method: req.method ?? '', host: req.headers.host, path: '', status: 0, durationMs: 0, peer: req.socket.remoteAddress };
      // While draining, clients are told to reconnect (to another replica) after this answer.
      if (options.draining?.()) res.shouldKeepAlive = false;
      try {
        const routed = await route(req, res, log, false);
        if (routed === 'handled') {
          // The guard answered (a redirect to sign in, the callback): the body stays unread.
          closeIfBodyUnread(req, res);
          return;
        }
        if (!('rule' in routed)) {
          answer(req, res, routed, log);
          return;
        }
        prepareHeaders(req, routed);
        if (routed.decision?.kind === 'allow') for (const [name, value] of Object.entries(routed.decision.responseHeaders)) res.setHeader(name, value);
        const requestMs = routed.action.timeouts.requestMs;
        const signal = requestMs === null ? null : AbortSignal.timeout(requestMs);
        const path = upstreamPath(routed);
        const timeouts = timeoutsFor(routed.action);
        const upstreamStarted = performance.now();
        const outcome = await forwardWithRetry(options.forwarder, req, res, routed.action.upstreams, selection, (endpoint) => ({
          origin: endpoint.origin,
          path,
          headers: routed.headers,
          timeouts,
          signal,
        }));
        if (outcome !== null) options.metrics?.upstream(routeName(log.route), (performance.now() - upstreamStarted) / 1000, outcome.error?.code ?? null);
        if (outcome === null) {
          answer(req, res, proxyError('NO_HEALTHY_BACKEND', 'No backend of this route has a ready endpoint.'), log);
          return;
        }
        Object.assign(log, { upstream: outcome.origin, attempts: outcome.attempts, bytesIn: outcome.requestBytes, bytesOut: outcome.responseBytes });
        if (outcome.error === null) log.status = outcome.status ?? 0;
        else if (!outcome.responseStarted && outcome.error.code !== 'CLIENT_CLOSED') {
          const retryAfter = outcome.error.code === 'UPSTREAM_BUSY' ? { 'retry-after': UPSTREAM_BUSY_RETRY_AFTER } : undefined;
          answer(req, res, { status: outcome.error.status, code: outcome.error.code, message: upstreamMessage(outcome.error.code), headers: retryAfter }, log);
        } else {
          log.status = outcome.error.status;
          log.code = outcome.error.code;
        }
      } catch (error) {
        options.logger.error({ requestId: log.requestId, err: errorFields(error) }, 'request failed');
        answer(req, res, proxyError('INTERNAL', 'The proxy failed to handle this request.'), log);
      } finally {
        log.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
        writeLog(log);
      }
    },

    async handleUpgrade(req, socket, head) {
      const started = performance.now();
      const log: AccessLogEntry = { requestId: randomUUID(), method: req.method ?? '', host: req.headers.host, path: '', status: 0, durationMs: 0, peer: req.socket.remoteAddress };
      try {
        const routed = await route(req, null, log, true);
        if (routed === 'handled') return;
        if (!('rule' in routed)) {
          writeSocketError(req, socket, routed, log);
          return;
        }
        prepareHeaders(req, routed);
        const pick = selectEndpoint(routed.action.upstreams, selection);
        if (pick === null) {
          writeSocketError(req, socket, proxyError('NO_HEALTHY_BACKEND', 'No backend of this route has a ready endpoint.'), log);
          return;
        }
        const timeouts = timeoutsFor(routed.action);
        const outcome = await proxyUpgrade(req, socket, head, { origin: pick.endpoint.origin, path: upstreamPath(routed), headers: routed.headers, timeouts, signal: null });
        Object.assign(log, { upstream: outcome.origin, status: outcome.status ?? outcome.error?.status ?? 0 });
        if (outcome.error) log.code = outcome.error.code;
      } catch (error) {
        options.logger.error({ requestId: log.requestId, err: errorFields(error) }, 'upgrade failed');
        writeSocketError(req, socket, proxyError('INTERNAL', 'The proxy failed to handle this request.'), log);
      } finally {
        log.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
        writeLog(log);
      }
    },
  };
}

/** `namespace/name` of the Route from a rule id (`namespace/name/rules[0]/matches[0]`), for metrics. */
function routeName(ruleId: string | undefined): string {
  if (ruleId === undefined) return 'none';
  const end = ruleId.indexOf('/rules[');
  return end === -1 ? ruleId : ruleId.slice(0, end);
}

function answer(req: IncomingMessage, res: ServerResponse, error: ErrorAnswer, log: AccessLogEntry): void {
  log.status = error.status;
  log.code = error.code;
  sendError(req, res, error, log.requestId);
}

/** A refused handshake: a plain HTTP response on the raw socket, then close. */
function writeSocketError(req: IncomingMessage, socket: Duplex, error: ErrorAnswer, log: AccessLogEntry): void {
  log.status = error.status;
  log.code = error.code;
  if (!socket.writable) return;
  const { contentType, body } = renderError(req, error, log.requestId);
  const extra = Object.entries(error.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${error.status} ${error.code}\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}x-request-id: ${log.requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Seconds: an upstream's connections free up as fast as its requests finish. */
const UPSTREAM_BUSY_RETRY_AFTER = '1';

function upstreamMessage(code: string): string {
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
