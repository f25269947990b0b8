// The proxy's HTTP server: fastify with one catch-all route that hands every request, raw and
// unparsed, to the pipeline. buildProxy() does not listen; the caller decides where.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTLSServer } from 'node:https';
import type { SecureContext } from 'node:tls';
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

/** For an HTTPS listener: the TLS context for a client's SNI name, or null to refuse the handshake. */
export type SniLookup = (servername: string) => SecureContext | null;

export function buildProxy(pipeline: Pipeline, options: ProxyServerOptions = DEFAULT_PROXY_SERVER_OPTIONS, sni: SniLookup | null = null): FastifyInstance {
  const app = fastify({
    logger: false,
    serverFactory: (handler) => {
      // requestTimeout: 0, deliberately. Node's requestTimeout bounds the whole request, body
      // included (300 s by default): a large upload at a fair speed may take longer. A stalled
      // client is cut instead by the head timeout below and by the forwarder's client body
      // timeout (the longest silence between two chunks of the body).
      const settings = { maxHeaderSize: options.maxHeaderSize, keepAliveTimeout: options.keepAliveTimeoutMs, requestTimeout: 0 };
      // The certificate is chosen per connection from the table in force: rotation needs no restart.
      const server: Server =
        sni === null
          ? createServer(settings, handler)
          : (createTLSServer(
              {
                ...settings,
                SNICallback: (servername, done) => {
                  const context = sni(servername);
                  done(context === null ? new Error(`No certificate for ${servername}`) : null, context ?? undefined);
                },
              },
              handler,
            ) as unknown as Server);
      // The request head must arrive within a minute (nginx's client_header_timeout); Node checks
      // every connectionsCheckingInterval (30 s), so a slow head is cut after 60 to 90 s.
      server.headersTimeout = 60_000;
      // Security: `Expect: 100-continue` is the pipeline's to answer, once the request has been
      // allowed (the forwarder does, as it starts reading the body). Left to Node, every client
      // would be invited to send its body before anyone looked at its credentials.
      server.on('checkContinue', handler);
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

