// The ops listener: liveness, readiness, Prometheus metrics and the assertion keys, apart from
// proxied traffic.
import { fastify, type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.ts';

export interface Health {
  /** Ready to take traffic: a table is loaded and the process is not draining. */
  ready(): { ready: boolean; reason: string };
}

export interface OpsDocuments {
  readonly metrics?: Metrics;
  /** The JWKS of the keys that sign X-Portcullis-Assertion, served at /.well-known/jwks.json. */
  readonly jwks?: () => string;
}

export function buildOps(health: Health, documents: OpsDocuments = {}): FastifyInstance {
  const { metrics, jwks } = documents;
  const app = fastify({ logger: false });
  if (jwks !== undefined) {
    app.get('/.well-known/jwks.json', async (_request, reply) => {
      reply.header('content-type', 'application/json');
      reply.header('cache-control', 'no-store');
      return jwks();
    });
  }
  if (metrics !== undefined) {
    app.get('/metrics', async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  }
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = health.ready();
    reply.code(state.ready ? 200 : 503);
    return { status: state.ready ? 'ready' : 'not ready', reason: state.reason };
  });
  return app;
}
