// The per-request pipeline: normalise → match → guard → forward, the same for every method and
// for WebSocket upgrades. Every answer of our own carries a stable code, and every answer — ours,
// the upstream's, a redirect, a refused upgrade — the request's id (X-Request-Id), which the
// upstream receives too and the access log records.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorFields, type Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { errorAnswer, WELL_KNOWN_PAGES, type Answer, type DocumentAnswer } from '../model/answer.ts';
import { forwardedCookieHeader } from '../model/cookies.ts';
import type { ErrorCode } from '../model/errors.ts';
import type { AllowDecision, Guard, GuardContext, GuardRequest } from '../model/guard.ts';
import type { AuthPolicy } from '../model/policy.ts';
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
import { normalizeTarget, singleHostHeader, type NormalizedTarget } from '../match/normalize.ts';
import { returnTarget } from '../auth/browser/targets.ts';
import { createHostPolicies, returnPath, SIGNED_OUT } from './personal.ts';
import { grpcTimeoutMs } from './h2/grpc.ts';
import { http2StreamOf } from './h2/request.ts';
import { refuseUpgrade, writeAnswer } from './respond.ts';
import { rewritePath } from './rewrite.ts';

/** What deciding on a request needs: the same for the proxy listener and the forward-auth listener. */
export interface DecisionOptions {
  /** The table in force; read once per request, so a swap never changes a request in flight. */
  readonly table: () => RouteTable;
  readonly guard: Guard;
  /** Removed from every request besides the table's identity headers; default strippedHeaders(), the well-known ones. */
  readonly strippedHeaders?: StrippedHeaders;
  /** Documents of the proxy's own by path (the assertion keys' JWKS), served on every host. */
  readonly documents?: ReadonlyMap<string, () => DocumentAnswer>;
}

export interface PipelineOptions extends DecisionOptions {
  readonly forwarder: Forwarder;
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
export interface Trace {
  readonly log: AccessLogEntry;
  route: string;
}

/**
 * The request to decide on: the one the proxy received, or the original request a forward-auth
 * check describes (src/proxy/auth-listener.ts).
 */
export interface Inbound {
  readonly method: string;
  /** The request target as sent: origin form, or absolute form (which must agree with `host`). */
  readonly target: string;
  /** The one Host header (see singleHostHeader), or the host a check describes. */
  readonly host: string | undefined;
  /** The client's headers, lower-case names; read, never changed. */
  readonly headers: IncomingMessage['headers'];
  /** The client's headers as sent, name and value in turn: Node keeps one Authorization header, the guard counts them. */
  readonly rawHeaders: readonly string[];
  /** The scheme the client used (ours, or a trusted proxy's). */
  readonly scheme: 'http' | 'https';
  /** A WebSocket handshake. */
  readonly upgrade: boolean;
}

/** A request matched (or not) against the table, before the guard ran. */
export interface Located {
  readonly kind: 'located';
  readonly inbound: Inbound;
  /** The rule that matched; null when none did. */
  readonly rule: CompiledRule | null;
  readonly hostname: string;
  readonly path: string;
  readonly query: string;
  /** The client's headers, its identity headers removed: what goes upstream, once the guard's are set. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** The table's session cookie names. */
  readonly proxyCookies: readonly string[];
  /** The table's identity header names (RouteTable.identityHeaders). */
  readonly identityHeaders: ReadonlySet<string>;
}

/** The guard let the request pass: the located request's `headers` now carry its identity headers and Authorization. */
export interface Admitted {
  readonly kind: 'admitted';
  /** null for a public rule: no guard ran. */
  readonly allow: AllowDecision | null;
  /** Set-Cookie lines the guard added for the answer. */
  readonly cookies: readonly string[];
}

/** A public rule's admission: nothing to add, and the same object for every request. */
const PUBLIC: Admitted = Object.freeze({ kind: 'admitted', allow: null, cookies: Object.freeze([]) });

/** Where a browser is sent to sign in before going on to `rd` (nginx's error_page 401, ingress-nginx's auth-signin). */
export const SIGNIN_START_PATH = '/.well-known/portcullis/start';

export interface Decisions {
  /**
   * Normalises the target, strips the client's identity headers, answers the proxy's own paths
   * (documents, the sign-in start, the browser flow's callback and logout), and matches.
   * Synchronous, but for the paths the guard answers (a promise of that answer).
   */
  resolve(inbound: Inbound, trace: Trace): Located | Answer | Promise<Answer>;
  /** Asks the guard about a located request for `policy` (null: a public rule, which passes as it is). */
  admit(located: Located, policy: AuthPolicy | null, trace: Trace): Promise<Admitted | Answer>;
}

/**
 * The decision on a request, shared by the proxy's pipeline and the forward-auth listener: the
 * same normalise → match → guard, wherever the request came from.
 */
export function createDecisions(options: DecisionOptions): Decisions {
  const stripped = options.strippedHeaders ?? strippedHeaders();
  const hostPolicies = createHostPolicies();

  const requestOf = (inbound: Inbound, headers: Located['headers']): GuardRequest => ({ method: inbound.method, headers, authorizationCount: countAuthorization(inbound.rawHeaders) });
  const contextOf = (inbound: Inbound, target: { host: string; path: string; query: string }, requestId: string, route: string | null): GuardContext => ({
    requestId,
    scheme: inbound.scheme,
    host: inbound.host ?? target.host,
    hostname: target.host,
    route,
    path: target.path,
    query: target.query,
    upgrade: inbound.upgrade,
  });

  function resolve(inbound: Inbound, trace: Trace): Located | Answer | Promise<Answer> {
    const { log } = trace;
    const target = normalizeTarget(inbound.target, inbound.host);
    if (!target.ok) return errorAnswer(target.code, target.message);
    log.path = target.query === '' ? target.path : `${target.path}?${redactQuery(target.query)}`;
    const table = options.table();

    // Security: the client's copy of every identity header goes first, on every route, public
    // ones included, and before the guard sees the request, so that whatever the guard sets next
    // is ours alone.
    const headers: Record<string, string | string[] | undefined> = headersFromClient(inbound.headers);
    stripIdentityHeaders(headers, table.identityHeaders, stripped);
    // The client's X-Request-Id is replaced by ours (which is a trusted proxy's own, if it sent one).
    headers['x-request-id'] = log.requestId;

    // The proxy's own documents (the keys upstreams verify assertions with), the sign-in start and
    // the browser flow's callback and logout paths belong to the proxy, on every host: they are
    // answered before matching, so that no Route can take them over.
    const document = inbound.upgrade ? undefined : options.documents?.get(target.path);
    if (document !== undefined) {
      return inbound.method === 'GET' || inbound.method === 'HEAD' ? document() : errorAnswer('METHOD_NOT_ALLOWED', 'This document is read with GET.', { headers: { allow: 'GET, HEAD' } });
    }
    if (target.path === SIGNIN_START_PATH && !inbound.upgrade) return startSignIn(inbound, target, headers, table, trace);
    const endpointPolicies = inbound.upgrade ? undefined : table.authEndpoints.get(target.path);
    if (endpointPolicies !== undefined) return endpoint(inbound, target, headers, endpointPolicies, trace);
    // The pages for people (who am I, the sign-in that asks for the account again, signed out)
    // are the proxy's too, on every host, before matching; the first two on hosts that a browser
    // policy serves.
    if (!inbound.upgrade && target.path.startsWith('/.well-known/portcullis/')) {
      if (target.path === WELL_KNOWN_PAGES.signedOut) return SIGNED_OUT;
      if (target.path === WELL_KNOWN_PAGES.me || target.path === WELL_KNOWN_PAGES.signIn) {
        const policies = hostPolicies(table, target.host, target.path === WELL_KNOWN_PAGES.signIn ? returnPath(target.query) : null);
        if (policies.length === 0) return errorAnswer('NOT_FOUND', 'No sign-in is configured for this host.');
        return endpoint(inbound, target, headers, policies, trace);
      }
    }

    const rule = table.matcher.match({ host: target.host, path: target.path, method: inbound.method, headers: inbound.headers, query: target.query });
    if (rule !== null) {
      log.route = rule.id;
      trace.route = rule.route.key;
    }
    return { kind: 'located', inbound, rule, hostname: target.host, path: target.path, query: target.query, headers, proxyCookies: table.proxyCookies, identityHeaders: table.identityHeaders };
  }

  async function endpoint(inbound: Inbound, target: NormalizedTarget, headers: Located['headers'], policies: readonly AuthPolicy[], trace: Trace): Promise<Answer> {
    const decision = await options.guard.endpoint(requestOf(inbound, headers), policies, contextOf(inbound, target, trace.log.requestId, null));
    Object.assign(trace.log, decision.log);
    return decision.answer;
  }

  async function admit(located: Located, policy: AuthPolicy | null, trace: Trace): Promise<Admitted | Answer> {
    if (policy === null) return PUBLIC;
    const { inbound, headers } = located;
    const context = contextOf(inbound, { host: located.hostname, path: located.path, query: located.query }, trace.log.requestId, located.rule?.route.key ?? null);
    const decision = await options.guard.check(requestOf(inbound, headers), policy, context);
    Object.assign(trace.log, decision.log);
    if (decision.kind === 'answer') return decision.answer;
    // Verified identity only: set after the strip above, never merged with the client's.
    Object.assign(headers, decision.identity);
    // Unset, not deleted (here and in the pipeline): a header left undefined is not sent, and the
    // object keeps its fast shape for the rest of the request.
    headers.authorization = decision.authorization ?? undefined;
    return { kind: 'admitted', allow: decision, cookies: decision.cookies };
  }

  /**
   * /.well-known/portcullis/start?rd=<path or URL of this host>: sign in for the rule `rd` leads
   * to, then go there. nginx sends a browser here after its auth_request was refused (a check's
   * answer reaches nginx only as 2xx, 401 or 403, never as a redirect to sign in).
   * Security: `rd` is a path of this host or a URL of it, and a rule with a browser policy serves
   * it; the browser is sent nowhere else (no open redirect).
   */
  async function startSignIn(inbound: Inbound, target: NormalizedTarget, clientHeaders: Located['headers'], table: RouteTable, trace: Trace): Promise<Answer> {
    if (inbound.method !== 'GET' && inbound.method !== 'HEAD') return errorAnswer('METHOD_NOT_ALLOWED', 'The sign-in start takes GET requests only.', { headers: { allow: 'GET, HEAD' } });
    const invalid = errorAnswer('SIGNIN_TARGET_INVALID', 'The rd parameter must be a path of this host, or a URL of it, that a route with browser sign-in serves.');
    const host = inbound.host ?? target.host;
    const rd = signInTarget(rdOf(target.query), host, inbound.scheme);
    const destination = rd === null ? null : normalizeTarget(rd, host);
    if (rd === null || destination === null || !destination.ok) return invalid;
    const rule = table.matcher.match({ host: destination.host, path: destination.path, method: 'GET', headers: inbound.headers, query: destination.query });
    const policy = rule === null || rule.action.kind === 'respond' ? null : rule.action.policy;
    if (rule === null || policy === null || policy.browser === null) return invalid;
    trace.log.route = rule.id;
    trace.route = rule.route.key;
    // The guard is asked about a navigation to `rd` without a bearer token: with a session, the
    // browser goes on to `rd`; without one, to the provider (and back to `rd` after the callback).
    const request: GuardRequest = { method: 'GET', headers: { ...clientHeaders, authorization: undefined, 'sec-fetch-mode': 'navigate' }, authorizationCount: 0 };
    const decision = await options.guard.check(request, policy, contextOf(inbound, destination, trace.log.requestId, rule.route.key));
    Object.assign(trace.log, decision.log);
    if (decision.kind === 'answer') return decision.answer;
    return { kind: 'redirect', status: 302, location: rd, cookies: decision.cookies };
  }

  return { resolve, admit };
}

/**
 * The sign-in start's `rd`. A query that begins with `rd=/` holds a path and query as nginx's
 * `$request_uri` writes it, unescaped (its own `&` and `=` included): the rest of the query is
 * `rd`. Otherwise `rd` is a parameter like any other, percent-encoded (ingress-nginx's
 * auth-signin sends `rd=<escaped URL>`).
 */
export function rdOf(query: string): string {
  if (query.startsWith('rd=/')) return query.slice(3);
  return new URLSearchParams(query).get('rd') ?? '';
}

/**
 * The `rd` of the sign-in start as a path and query of this host, or null: a same-origin relative
 * path (`/…`), or an absolute http(s) URL whose host and port are the request's own.
 */
export function signInTarget(rd: string, host: string, scheme: 'http' | 'https'): string | null {
  if (rd.startsWith('/')) return returnTarget(rd);
  let url: URL;
  let ours: URL;
  try {
    url = new URL(rd);
    ours = new URL(`${scheme}://${host}`);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '' || url.host !== ours.host) return null;
  return returnTarget(url.pathname + url.search);
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const selection = createSelectionState();
  const decisions = createDecisions(options);

  /**
   * Everything before forwarding: the rule and the headers to send, or the answer that ends the
   * request here. `trusted` says whether the peer is a trusted proxy.
   */
  async function route(req: IncomingMessage, upgrade: boolean, trace: Trace, trusted: boolean): Promise<Routed | Answer> {
    // Security: one Host only. With two, we and a server behind us could each route by another.
    const host = singleHostHeader(req.rawHeaders);
    if (typeof host === 'object') return errorAnswer(host.code, host.message);
    const scheme = clientScheme(req.headers, { peer: req.socket.remoteAddress, trusted, scheme: options.scheme });
    const located = decisions.resolve({ method: req.method ?? 'GET', target: req.url ?? '', host, headers: req.headers, rawHeaders: req.rawHeaders, scheme, upgrade }, trace);
    // A promise is the guard's answer for one of the proxy's own paths.
    if (located instanceof Promise || located.kind !== 'located') return located;
    const rule = located.rule;
    if (rule === null) return errorAnswer('NOT_FOUND', 'No route matches this request.');
    // Route.spec.tls.redirectHTTP: plain HTTP gets the same URL on HTTPS, before anything else.
    if (rule.httpsRedirect && options.scheme === 'http' && !upgrade) {
      const port = options.httpsRedirectPort ?? 443;
      const location = `https://${located.hostname}${port === 443 ? '' : `:${port}`}${located.path}${located.query === '' ? '' : `?${located.query}`}`;
      return { kind: 'redirect', status: 308, location };
    }
    const action = rule.action;
    if (action.kind === 'respond') return errorAnswer(action.code, action.message);
    // Before the guard: nobody is sent to sign in for a request that could only get this answer.
    if (action.kind === 'authOnly') return errorAnswer('AUTH_ONLY', 'This route answers forward-auth checks only: it has no backend.');

    let cookies = PUBLIC.cookies;
    // A public rule skips the guard, and its await.
    if (action.policy !== null) {
      const admitted = await decisions.admit(located, action.policy, trace);
      if (admitted.kind !== 'admitted') return admitted;
      cookies = admitted.cookies;
    }
    const { headers } = located;
    // Security: our cookies stay ours, here and nowhere else, on every rule (public, bearer and
    // browser alike): a session cookie replayed by an upstream would be that user's session, and
    // a login attempt's carries its PKCE verifier.
    headers.cookie = forwardedCookieHeader(headers.cookie, located.proxyCookies) ?? undefined;
    return { kind: 'forward', rule, action, path: located.path, query: located.query, headers, cookies, proxyCookies: located.proxyCookies };
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

  const writeLog = (trace: Trace): void => writeTrace(trace, options.logger, options.metrics);

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

/** Writes a request's access-log line and counts it. */
export function writeTrace({ log, route }: Trace, logger: Logger, metrics: Metrics | undefined): void {
  logger.access(log.status >= 500 ? 'warn' : 'info', formatAccessLog(log));
  if (metrics !== undefined) {
    metrics.request(route, log.status, log.durationMs / 1000);
    if (log.policy !== undefined && log.decision !== undefined && log.reason !== undefined) metrics.decision(log.policy, log.decision, log.reason, log.cause);
  }
}

export function startTrace(req: IncomingMessage, trusted: boolean): Trace {
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
export function recordAnswer(log: AccessLogEntry, reply: Answer): void {
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
