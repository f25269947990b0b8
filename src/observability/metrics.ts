// Prometheus metrics, named by its conventions (`_total`, `_seconds`), in one registry that
// main builds and passes in. Label values come from configuration (routes, policies, issuers)
// and from fixed code lists, never from requests, so cardinality stays bounded.
//
// The per-request series are looked up once per Route (and status class, and decision) and kept:
// an observation is then an addition (series.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { counterFamily, histogramFamily, type CounterSeries, type HistogramSeries } from './series.ts';

/** Reasons that begin or end a browser session (see src/auth/browser). */
const SESSION_CREATED = new Set(['SIGNED_IN']);
const SESSION_ENDED = new Set(['SIGNED_OUT', 'SESSION_EXPIRED', 'SESSION_IDLE', 'SESSION_TOKENS_EXPIRED', 'REFRESH_FAILED']);

export interface Metrics {
  readonly registry: Registry;
  /** One finished request: by Route (`namespace/name`, or `none`) and status class. */
  request(route: string, status: number, seconds: number): void;
  upstream(route: string, seconds: number, errorCode: string | null): void;
  /**
   * A policy's decision on a request, by its reason (an answer's code); browser sign-ins and
   * sign-outs count as sessions too, told by the reason or, behind a 401, its cause.
   */
  decision(policy: string, decision: string, reason: string, cause?: string): void;
  sessionRefreshed(policy: string): void;
  providerFetch(issuer: string, document: 'discovery' | 'jwks', ok: boolean): void;
  tableApplied(compileSeconds: number): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const requests = counterFamily({ registry, name: 'portcullis_requests_total', help: 'Requests answered, by Route and status class.', labelNames: ['route', 'status_class'] });
  const requestSeconds = histogramFamily({ registry, name: 'portcullis_request_duration_seconds', help: 'Time from the request head to the end of the answer.', labelNames: ['route'], buckets });
  const upstreamSeconds = histogramFamily({ registry, name: 'portcullis_upstream_duration_seconds', help: 'Time spent forwarding to the upstream, retries included.', labelNames: ['route'], buckets });
  const upstreamErrors = new Counter({ name: 'portcullis_upstream_errors_total', help: 'Forwarding failures, by Route and error code.', labelNames: ['route', 'code'], registers: [registry] });
  const decisions = counterFamily({ registry, name: 'portcullis_auth_decisions_total', help: 'Authentication outcomes, by policy, decision and reason code.', labelNames: ['policy', 'decision', 'reason'] });
  const sessions = new Counter({ name: 'portcullis_sessions_total', help: 'Browser sessions created, refreshed and ended, by policy.', labelNames: ['policy', 'event'], registers: [registry] });
  const fetches = new Counter({ name: 'portcullis_provider_fetches_total', help: 'Discovery and JWKS fetches, by issuer, document and result.', labelNames: ['issuer', 'document', 'result'], registers: [registry] });
  const rebuilds = new Counter({ name: 'portcullis_table_rebuilds_total', help: 'Routing tables compiled and put in force.', registers: [registry] });
  const compileSeconds = new Histogram({ name: 'portcullis_table_compile_duration_seconds', help: 'Time to compile a routing table.', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] });
  let lastApplied: number | null = null;
  new Gauge({
    name: 'portcullis_table_last_applied_age_seconds',
    help: 'Seconds since the last change was put in force (absent before the first).',
    registers: [registry],
    collect() {
      if (lastApplied !== null) this.set((Date.now() - lastApplied) / 1000);
    },
  });

  /** A Route's series: its requests by status class (index: the status / 100), its durations. */
  interface RouteSeries {
    readonly byStatusClass: CounterSeries[];
    readonly requestSeconds: HistogramSeries;
    readonly upstreamSeconds: HistogramSeries;
  }
  const routes = new Map<string, RouteSeries>();
  const seriesOf = (route: string): RouteSeries => {
    let series = routes.get(route);
    if (series === undefined) {
      series = { byStatusClass: [], requestSeconds: requestSeconds({ route }), upstreamSeconds: upstreamSeconds({ route }) };
      routes.set(route, series);
    }
    return series;
  };
  /** By policy, then decision, then reason: lookups of the same few strings, never a key made per request. */
  const decisionSeries = new Map<string, Map<string, Map<string, CounterSeries>>>();

  return {
    registry,
    request(route, status, seconds) {
      const series = seriesOf(route);
      const statusClass = Math.floor(status / 100);
      (series.byStatusClass[statusClass] ??= requests({ route, status_class: `${statusClass}xx` })).inc();
      series.requestSeconds.observe(seconds);
    },
    upstream(route, seconds, errorCode) {
      seriesOf(route).upstreamSeconds.observe(seconds);
      if (errorCode !== null) upstreamErrors.inc({ route, code: errorCode });
    },
    decision(policy, decision, reason, cause) {
      let byDecision = decisionSeries.get(policy);
      if (byDecision === undefined) decisionSeries.set(policy, (byDecision = new Map()));
      let byReason = byDecision.get(decision);
      if (byReason === undefined) byDecision.set(decision, (byReason = new Map()));
      let series = byReason.get(reason);
      if (series === undefined) byReason.set(reason, (series = decisions({ policy, decision, reason })));
      series.inc();
      const why = cause ?? reason;
      if (SESSION_CREATED.has(why)) sessions.inc({ policy, event: 'created' });
      else if (SESSION_ENDED.has(why)) sessions.inc({ policy, event: 'ended' });
    },
    sessionRefreshed: (policy) => sessions.inc({ policy, event: 'refreshed' }),
    providerFetch: (issuer, document, ok) => fetches.inc({ issuer, document, result: ok ? 'ok' : 'error' }),
    tableApplied(seconds) {
      rebuilds.inc();
      compileSeconds.observe(seconds);
      lastApplied = Date.now();
    },
  };
}
