// The proxy's HTTP server: node:http for cleartext HTTP/1.1, node:http2 for HTTPS (HTTP/2 by
// ALPN, HTTP/1.1 for clients that do not offer h2) and for cleartext HTTP/2 with prior knowledge
// (h2c). Every request of either protocol and every upgrade is handed, raw and unparsed, to the
// one pipeline. No framework in between: the proxy routes by its own table
// and streams every body, so a framework's router, hooks and body parsing would be work done per
// request for nothing. buildProxy() does not listen; the caller decides where.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, createServer as createH2CServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { DEFAULT_HTTP2_LIMITS, guardResets, http2ServerOptions, type Http2Limits } from './h2/session.ts';
import { adoptHttp2Request } from './h2/request.ts';
import type { Pipeline } from './pipeline.ts';

export interface ProxyServerOptions {
  /**
   * The largest request head accepted, in bytes. Node's default (16 KiB) holds about three 4 KiB
   * session cookie chunks; a signed-in Cognito user with groups needs more.
   */
  readonly maxHeaderSize: number;
  /** How long an idle keep-alive connection from a client stays open. */
  readonly keepAliveTimeoutMs: number;
  /** HTTP/2 limits per connection (the HTTPS and h2c listeners); the header list is bounded by maxHeaderSize. */
  readonly http2?: Omit<Http2Limits, 'maxHeaderListSize'>;
  /** Cleartext HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1; ignored with TLS, which negotiates. */
  readonly h2c?: boolean;
}

export const DEFAULT_PROXY_SERVER_OPTIONS: ProxyServerOptions = { maxHeaderSize: 64 * 1024, keepAliveTimeoutMs: 65_000 };

/** For an HTTPS listener: the TLS context for a client's SNI name, or null to refuse the handshake. */
export type SniLookup = (servername: string) => SecureContext | null;

export interface ProxyServer {
  /** node:http's Server for cleartext HTTP/1.1; node:http2's (a net or TLS server) otherwise. */
  readonly server: Server | NetServer;
  /** Listens on `host:port` (port 0: any free port); rejects when it cannot (e.g. EADDRINUSE). */
  listen(address: { readonly host: string; readonly port: number }): Promise<void>;
  /** Closes idle HTTP/1.1 connections, and sends every HTTP/2 connection GOAWAY (its streams in flight finish). */
  closeIdleConnections(): void;
  /** Cuts every connection now. */
  closeAllConnections(): void;
  /** Stops accepting connections, closes idle ones, and resolves once every connection has closed. */
  close(): Promise<void>;
}

export function buildProxy(pipeline: Pipeline, options: ProxyServerOptions = DEFAULT_PROXY_SERVER_OPTIONS, sni: SniLookup | null = null): ProxyServer {
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    void pipeline.handleRequest(req, res);
  };
  if (sni === null && options.h2c !== true) return http1Proxy(createServer(http1Settings(options), handle), pipeline);

  // HTTP/2 (and, over TLS, HTTP/1.1 for clients that do not offer h2): Node's compatibility API
  // hands both protocols to one handler; an HTTP/1.1 request comes as node:http's objects.
  const dispatch = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    if (req.httpVersionMajor === 2) {
      const adopted = adoptHttp2Request(req as Http2ServerRequest, res as Http2ServerResponse);
      handle(adopted.req, adopted.res);
    } else handle(req as IncomingMessage, res as ServerResponse);
  };
  const limits: Http2Limits = { ...DEFAULT_HTTP2_LIMITS, ...options.http2, maxHeaderListSize: options.maxHeaderSize };
  const http2 = { ...http2ServerOptions(limits), ...http1Settings(options) };
  const server =
    sni === null
      ? createH2CServer(http2, dispatch)
      : createSecureServer(
          {
            ...http2,
            allowHTTP1: true,
            // The certificate is chosen per connection from the table in force: rotation needs no restart.
            SNICallback: (servername, done) => {
              const context = sni(servername);
              done(context === null ? new Error(`No certificate for ${servername}`) : null, context ?? undefined);
            },
          },
          dispatch,
        );
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    // An HTTP/2 connection with no frame for the keep-alive timeout gets GOAWAY (its streams
    // in flight, if any, may finish). HTTP/1.1 connections keep their own keep-alive timeout.
    session.setTimeout(options.keepAliveTimeoutMs, () => session.close());
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    guardResets(session, limits.maxResetsPerSecond);
  });
  // Every connection, for closeAllConnections (HTTP/1.1 over TLS ones included).
  const sockets = new Set<Socket>();
  server.on(sni === null ? 'connection' : 'secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Security: `Expect: 100-continue` is the pipeline's to answer, once the request is allowed (see http1Proxy).
  server.on('checkContinue', dispatch);
  if (sni !== null) {
    // HTTP/1.1 over TLS: the head timeout, and WebSocket upgrades (every door is guarded: the
    // same pipeline), as on the cleartext listener.
    const tls = server as unknown as Server;
    tls.headersTimeout = HEAD_TIMEOUT_MS;
    tls.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void pipeline.handleUpgrade(req, socket, head);
    });
  }
  return {
    server,
    listen: (address) => listen(server, address),
    closeIdleConnections() {
      (server as unknown as Partial<Server>).closeIdleConnections?.call(server);
      for (const session of sessions) if (!session.closed) session.close();
    },
    closeAllConnections() {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
    close: () => close(server),
  };
}

/**
 * requestTimeout: 0, deliberately. Node's requestTimeout bounds the whole request, body
 * included (300 s by default): a large upload at a fair speed may take longer. A stalled
 * client is cut instead by the head timeout and by the forwarder's client body timeout (the
 * longest silence between two chunks of the body).
 */
function http1Settings(options: ProxyServerOptions): { maxHeaderSize: number; keepAliveTimeout: number; requestTimeout: number } {
  return { maxHeaderSize: options.maxHeaderSize, keepAliveTimeout: options.keepAliveTimeoutMs, requestTimeout: 0 };
}

/**
 * The request head must arrive within a minute (nginx's client_header_timeout); Node checks
 * every connectionsCheckingInterval (30 s), so a slow head is cut after 60 to 90 s.
 */
const HEAD_TIMEOUT_MS = 60_000;

function http1Proxy(server: Server, pipeline: Pipeline): ProxyServer {
  server.headersTimeout = HEAD_TIMEOUT_MS;
  // Security: `Expect: 100-continue` is the pipeline's to answer, once the request has been
  // allowed (the forwarder does, as it starts reading the body). Left to Node, every client
  // would be invited to send its body before anyone looked at its credentials.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    void pipeline.handleRequest(req, res);
  });
  // Every door is guarded: a WebSocket handshake goes through the same pipeline.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void pipeline.handleUpgrade(req, socket, head);
  });
  return {
    server,
    listen: (address) => listen(server, address),
    closeIdleConnections: () => server.closeIdleConnections(),
    closeAllConnections: () => server.closeAllConnections(),
    close: () => close(server),
  };
}

function listen(server: NetServer, { host, port }: { readonly host: string; readonly port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Node's close() also closes the connections that are idle now; busy ones end after their answer. */
function close(server: NetServer): Promise<void> {
  return new Promise((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
}
