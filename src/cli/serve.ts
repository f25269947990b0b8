// The data plane every mode shares, wired: the table in force (src/proxy/table.ts), the auth
// runtime, the proxy and ops listeners; this file owns listening and draining. A source (a
// manifest folder, Kubernetes informers) hands it snapshots.
import type { AddressInfo } from 'node:net';
import type { AssertionKeySet } from '../auth/assertion/keys.ts';
import { ASSERTION_JWKS_PATH, createAssertionSigner } from '../auth/assertion/signer.ts';
import { createBrowserFlow } from '../auth/browser/flow.ts';
import type { ProviderHealth, ProviderReadiness } from '../auth/provider.ts';
import { createAuthRuntime, type AuthRuntime } from '../auth/runtime.ts';
import type { CompileResult } from '../compile/compile.ts';
import type { CompileOptions, Snapshot } from '../model/snapshot.ts';
import type { AuthPolicy } from '../model/policy.ts';
import type { RouteTable } from '../model/table.ts';
import type { Logger } from '../observability/logger.ts';
import { buildOps } from '../observability/ops.ts';
import { createUndiciForwarder } from '../proxy/forward/index.ts';
import { strippedHeaders, trustedPeers } from '../proxy/headers.ts';
import { createAuthListener } from '../proxy/auth-listener.ts';
import { createPipeline, DEFAULT_TIMEOUTS } from '../proxy/pipeline.ts';
import { buildProxy, DEFAULT_PROXY_SERVER_OPTIONS } from '../proxy/server.ts';
import { sniLookup } from '../proxy/sni.ts';
import { createTableHolder } from '../proxy/table.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import { SYSTEM_TIMERS } from '../time/timers.ts';
import type { AuthListen } from './auth-listen.ts';
import { listenURL } from './listen.ts';

export interface ServeOptions {
  readonly listen: { host: string | undefined; port: number };
  /** An HTTPS listener, its certificates from the Routes' `tls.secretRef` (SNI). */
  readonly listenTLS?: { host: string | undefined; port: number };
  /** Forward-auth listeners (--auth-listen), each with the convention its callers describe requests with. */
  readonly authListen?: readonly AuthListen[];
  /** Envoy's path_prefix on `envoy` listeners (default none). */
  readonly authEnvoyPrefix?: string;
  /** On forward-auth listeners, a request no Route matches is allowed rather than refused (403 NO_ROUTE). */
  readonly authDefaultAllow?: boolean;
  /** A cleartext HTTP/2 listener with prior knowledge (h2c): in-cluster gRPC without TLS. */
  readonly listenH2C?: { host: string | undefined; port: number };
  /** The public HTTPS port that `tls.redirectHTTP` sends browsers to (default: the HTTPS listener's, 443 when there is none). */
  readonly httpsRedirectPort?: number;
  readonly opsListen: { host: string | undefined; port: number };
  readonly trustedProxies: readonly string[];
  /** Headers (names, or prefixes ending in `*`) every request loses besides the well-known identity headers. */
  readonly stripRequestHeaders?: readonly string[];
  readonly logger: Logger;
  readonly compileOptions: CompileOptions;
  /** X-Portcullis-Assertion: its `iss`, and the keys that sign it (none yet: not ready). */
  readonly assertion: { readonly issuer: string; readonly keys: AssertionKeySet };
  /** How often provider discovery and keys are refetched (default 10 min). */
  readonly providerRefreshMs?: number;
  /** Verified signatures kept per policy; 0 turns the cache off. */
  readonly signatureCacheSize?: number;
  /** A policy's provider became ready or stopped being ready (the controller publishes it as `Ready`). */
  readonly onReadinessChange?: (policy: AuthPolicy, readiness: ProviderReadiness) => void;
  /** A policy's provider health changed: keys, last fetch, last error, degraded (the controller publishes `status.provider` and `Degraded`). */
  readonly onHealthChange?: (policy: AuthPolicy, health: ProviderHealth) => void;
  /** Served on the ops listener's /metrics; a new registry when absent. */
  readonly metrics?: Metrics;
  /** On close: how long to keep serving with /readyz failing, so load balancers stop sending first. */
  readonly drainDelayMs?: number;
  /** On close: how long requests in flight may take to finish before their connections are cut. */
  readonly shutdownTimeoutMs?: number;
  /** Request bodies up to this many bytes are read in full before an upstream connection is taken (default 1 MiB). */
  readonly clientBodyBufferSize?: number;
  /** A client silent for longer than this while sending its request body is cut (default 60 s). */
  readonly clientBodyTimeoutMs?: number;
  /** A client that reads nothing of the response for longer than this is cut (default 60 s). */
  readonly sendTimeoutMs?: number;
  /** Connections open to one upstream origin at most (default 1024). */
  readonly upstreamMaxConnections?: number;
  /** Requests waiting for a connection to one origin at most; beyond, 503 UPSTREAM_BUSY (default 1024). */
  readonly upstreamQueueSize?: number;
  /** The longest wait for an upstream connection, then 503 UPSTREAM_BUSY (default 5 s). */
  readonly upstreamQueueTimeoutMs?: number;
}

export const DEFAULT_DRAIN_DELAY_MS = 5_000;

/**
 * Listens where asked; without a host, on every interface: IPv6 and IPv4 (`::`), or IPv4 alone
 * on a node without IPv6.
 */
async function listenAll(app: { listen(address: { host: string; port: number }): Promise<unknown> }, address: { host: string | undefined; port: number }): Promise<void> {
  if (address.host !== undefined) {
    await app.listen({ host: address.host, port: address.port });
    return;
  }
  try {
    await app.listen({ host: '::', port: address.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
    await app.listen({ host: '0.0.0.0', port: address.port });
  }
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;

export interface Serving {
  readonly proxyURL: string;
  /** null without an HTTPS listener. */
  readonly proxyTLSURL: string | null;
  /** The h2c listener's URL (`http://…`); null without one. */
  readonly proxyH2CURL: string | null;
  readonly opsURL: string;
  /** The forward-auth listeners' URLs, in the order of --auth-listen. */
  readonly authURLs: readonly string[];
  readonly auth: AuthRuntime;
  readonly metrics: Metrics;
  table(): RouteTable;
  /** Compiles a snapshot and puts the table in force; the result carries the statuses. */
  apply(snapshot: Snapshot): CompileResult;
  /**
   * Stops gracefully: /readyz fails at once while the proxy keeps serving for the drain delay;
   * then no new connection is accepted, requests in flight finish (bounded by the shutdown
   * timeout), and everything closes.
   */
  close(): Promise<void>;
}

export async function startServing(options: ServeOptions): Promise<Serving> {
  const { logger, compileOptions } = options;
  let draining = false;
  // The browser flow (sessions, sign-in, refresh, logout) for policies with `browser` on.
  const metrics = options.metrics ?? createMetrics();
  const assertionKeys = options.assertion.keys;
  const auth = createAuthRuntime({
    logger,
    refreshMs: options.providerRefreshMs,
    cacheSize: options.signatureCacheSize,
    assertion: createAssertionSigner({ issuer: options.assertion.issuer, keys: assertionKeys, now: () => SYSTEM_TIMERS.now() }),
    browser: createBrowserFlow({ logger, onRefreshed: (policy) => metrics.sessionRefreshed(policy.key) }),
    onReadinessChange: options.onReadinessChange,
    onHealthChange: options.onHealthChange,
    onProviderFetch: (issuer, document, ok) => metrics.providerFetch(issuer, document, ok),
  });

  const tables = createTableHolder({ compileOptions, auth, logger, metrics });

  const forwarder = createUndiciForwarder({
    clientBodyBufferSize: options.clientBodyBufferSize,
    clientBodyTimeoutMs: options.clientBodyTimeoutMs,
    sendTimeoutMs: options.sendTimeoutMs,
    connectionsPerOrigin: options.upstreamMaxConnections,
    queueSizePerOrigin: options.upstreamQueueSize,
    queueTimeoutMs: options.upstreamQueueTimeoutMs,
  });
  const stripped = strippedHeaders(options.stripRequestHeaders);
  // The keys upstreams verify X-Portcullis-Assertion with, on every host of the proxy listener.
  const jwks = () => ({ kind: 'document', status: 200, contentType: 'application/json', body: assertionKeys.jwks() }) as const;
  const documents = new Map([[ASSERTION_JWKS_PATH, jwks]]);
  const pipelineFor = (scheme: 'http' | 'https') =>
    createPipeline({
      table: tables.current,
      forwarder,
      guard: auth,
      logger,
      trustedPeers: peers,
      strippedHeaders: stripped,
      scheme,
      timeouts: DEFAULT_TIMEOUTS,
      metrics,
      draining: () => draining,
      httpsRedirectPort: options.httpsRedirectPort ?? (options.listenTLS?.port || 443),
      documents,
    });
  const peers = trustedPeers(options.trustedProxies);
  // Forward-auth checks: the same table, guard, stripped headers and documents as the proxy's.
  const authListeners = (options.authListen ?? []).map((address) => ({
    address,
    server: buildProxy(
      createAuthListener({
        table: tables.current,
        guard: auth,
        strippedHeaders: stripped,
        documents,
        convention: address.convention,
        trustedPeers: peers,
        logger,
        metrics,
        envoyPrefix: options.authEnvoyPrefix,
        defaultAllow: options.authDefaultAllow,
        scheme: 'http',
        draining: () => draining,
      }),
    ),
  }));
  const proxy = buildProxy(pipelineFor('http'));
  const proxyTLS = options.listenTLS === undefined ? null : buildProxy(pipelineFor('https'), DEFAULT_PROXY_SERVER_OPTIONS, sniLookup(tables.current));
  const proxyH2C = options.listenH2C === undefined ? null : buildProxy(pipelineFor('http'), { ...DEFAULT_PROXY_SERVER_OPTIONS, h2c: true });
  const ready = () => {
    if (draining) return { ready: false, reason: 'draining' };
    if (!tables.loaded()) return { ready: false, reason: 'loading' };
    if (assertionKeys.signing() === null) return { ready: false, reason: 'waiting for the assertion keys' };
    return { ready: true, reason: 'table loaded' };
  };
  const ops = buildOps({ ready }, { metrics, jwks: assertionKeys.jwks });
  await listenAll(proxy, options.listen);
  if (proxyTLS !== null) await listenAll(proxyTLS, options.listenTLS!);
  if (proxyH2C !== null) await listenAll(proxyH2C, options.listenH2C!);
  for (const listener of authListeners) await listenAll(listener.server, listener.address);
  await listenAll(ops, options.opsListen);
  const proxyURL = listenURL(proxy.server.address() as AddressInfo);
  const opsURL = listenURL(ops.server.address() as AddressInfo);
  const proxyTLSURL = proxyTLS === null ? null : listenURL(proxyTLS.server.address() as AddressInfo, 'https');
  const authURLs = authListeners.map((listener) => listenURL(listener.server.server.address() as AddressInfo));
  const proxyH2CURL = proxyH2C === null ? null : listenURL(proxyH2C.server.address() as AddressInfo);
  logger.info({ proxy: proxyURL, ...(proxyTLSURL === null ? {} : { proxyTLS: proxyTLSURL }), ...(proxyH2CURL === null ? {} : { proxyH2C: proxyH2CURL }), ...(authURLs.length === 0 ? {} : { auth: authURLs }), ops: opsURL }, 'listening');

  return {
    proxyURL,
    proxyTLSURL,
    proxyH2CURL,
    opsURL,
    authURLs,
    auth,
    metrics,
    table: tables.current,
    apply: tables.apply,
    async close() {
      if (draining) return;
      draining = true;
      const drainDelayMs = options.drainDelayMs ?? DEFAULT_DRAIN_DELAY_MS;
      logger.info({ drainDelayMs }, 'draining: /readyz fails, requests are still served');
      await sleep(drainDelayMs);
      // No new connections; idle keep-alive ones close now, busy ones as soon as their answer is
      // sent (Node closes idle connections once, at close(): the sweep catches the later ones).
      // HTTP/2 connections get GOAWAY: their streams in flight finish, no new one starts.
      const proxies = [proxy, proxyTLS, proxyH2C, ...authListeners.map((listener) => listener.server)].filter((p) => p !== null);
      const sweep = setInterval(() => proxies.forEach((p) => p.closeIdleConnections()), 100);
      const cut = setTimeout(() => {
        logger.warn('shutdown timeout: cutting the connections still open');
        proxies.forEach((p) => p.closeAllConnections());
      }, options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
      await Promise.all(proxies.map((p) => p.close()));
      clearInterval(sweep);
      clearTimeout(cut);
      await ops.close();
      await forwarder.close();
      await auth.close();
      logger.info('stopped');
    },
  };
}
