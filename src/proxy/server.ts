// The proxy's HTTP server: node:http (or node:https), every request and every upgrade handed,
// raw and unparsed, to the pipeline. No framework in between: the proxy routes by its own table
// and streams every body, so a framework's router, hooks and body parsing would be work done per
// request for nothing. buildProxy() does not listen; the caller decides where.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTLSServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
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

export interface ProxyServer {
  readonly server: Server;
  /** Listens on `host:port` (port 0: any free port); rejects when it cannot (e.g. EADDRINUSE). */
  listen(address: { readonly host: string; readonly port: number }): Promise<void>;
  /** Stops accepting connections, closes idle ones, and resolves once every connection has closed. */
  close(): Promise<void>;
}

export function buildProxy(pipeline: Pipeline, options: ProxyServerOptions = DEFAULT_PROXY_SERVER_OPTIONS, sni: SniLookup | null = null): ProxyServer {
  // requestTimeout: 0, deliberately. Node's requestTimeout bounds the whole request, body
  // included (300 s by default): a large upload at a fair speed may take longer. A stalled
  // client is cut instead by the head timeout below and by the forwarder's client body
  // timeout (the longest silence between two chunks of the body).
  const settings = { maxHeaderSize: options.maxHeaderSize, keepAliveTimeout: options.keepAliveTimeoutMs, requestTimeout: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    void pipeline.handleRequest(req, res);
  };
  // The certificate is chosen per connection from the table in force: rotation needs no restart.
  const server: Server =
    sni === null
      ? createServer(settings, handle)
      : (createTLSServer(
          {
            ...settings,
            SNICallback: (servername, done) => {
              const context = sni(servername);
              done(context === null ? new Error(`No certificate for ${servername}`) : null, context ?? undefined);
            },
          },
          handle,
        ) as unknown as Server);
  // The request head must arrive within a minute (nginx's client_header_timeout); Node checks
  // every connectionsCheckingInterval (30 s), so a slow head is cut after 60 to 90 s.
  server.headersTimeout = 60_000;
  // Security: `Expect: 100-continue` is the pipeline's to answer, once the request has been
  // allowed (the forwarder does, as it starts reading the body). Left to Node, every client
  // would be invited to send its body before anyone looked at its credentials.
  server.on('checkContinue', handle);
  // Every door is guarded: a WebSocket handshake goes through the same pipeline.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void pipeline.handleUpgrade(req, socket, head);
  });

  return {
    server,
    listen({ host, port }) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    close() {
      // Node's close() also closes the connections that are idle now; busy ones end after their answer.
      return new Promise((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
    },
  };
}
