// The ops listener: liveness, readiness and (later) metrics, apart from proxied traffic.
import { fastify, type FastifyInstance } from 'fastify';

export interface Health {
  /** Ready to take traffic: a table is loaded and the process is not draining. */
  ready(): { ready: boolean; reason: string };
}

export function buildOps(health: Health): FastifyInstance {
  const app = fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = health.ready();
    reply.code(state.ready ? 200 : 503);
    return { status: state.ready ? 'ready' : 'not ready', reason: state.reason };
  });
  return app;
}
