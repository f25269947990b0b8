// The proxy's HTTP server: fastify with one catch-all route that hands every request, raw and
// unparsed, to the pipeline. buildProxy() does not listen; the caller decides where.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { fastify, type FastifyInstance } from 'fastify';
import type { Pipeline } from './pipeline.ts';

export interface ProxyServerOptions {
  /**
   * The largest request head accepted, in bytes. Node's default (16 KiB) holds about three 4 KiB
   * session cookie chunks; a signed-in Cognito user with groups needs more.
   */
  readonly maxHeaderSize: number;
  /** How long an idle keep-alive connection from a client stays open. */
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_PROXY_SERVER_OPTIONS: ProxyServerOptions = { maxHeaderSize: 64 * 1024, keepAliveTimeoutMs: 65_000 };

export function buildProxy(pipeline: Pipeline, options: ProxyServerOptions = DEFAULT_PROXY_SERVER_OPTIONS): FastifyInstance {
  const app = fastify({
    logger: false,
    serverFactory: (handler) => {
      const server: Server = createServer({ maxHeaderSize: options.maxHeaderSize, keepAliveTimeout: options.keepAliveTimeoutMs, requestTimeout: 0 }, handler);
      server.headersTimeout = 60_000;
      return server;
    },
    // A target fastify's router cannot decode still goes to the pipeline, whose normaliser answers
    // it with our 400 and a stable code.
    frameworkErrors: (_error, request, reply) => {
      reply.hijack();
      void pipeline.handleRequest(request.raw, reply.raw);
    },
    // The proxy streams bodies as they come: nothing is parsed, so no body limit and no 415 apply.
    bodyLimit: Number.MAX_SAFE_INTEGER,
    return503OnClosing: false,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.all('*', (request, reply) => {
    reply.hijack();
    return pipeline.handleRequest(request.raw, reply.raw);
  });
  app.server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    void pipeline.handleUpgrade(req, socket, head);
  });
  return app;
}

