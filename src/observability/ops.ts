// The ops listener: liveness, readiness and Prometheus metrics, apart from proxied traffic.
import { fastify, type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.ts';

export interface Health {
  /** Ready to take traffic: a table is loaded and the process is not draining. */
  ready(): { ready: boolean; reason: string };
}

export function buildOps(health: Health, metrics: Metrics | null = null): FastifyInstance {
  const app = fastify({ logger: false });
  if (metrics !== null) {
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
