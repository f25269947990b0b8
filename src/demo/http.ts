// Small HTTP helpers shared by the local OpenID provider and the token minter: listening on
// loopback, JSON and HTML answers, form bodies, and the switch that takes metadata "down".

import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1 (port 0: any free port) and answers the origin, `http://127.0.0.1:PORT`. */
export async function listenOnLoopback(server: Server, port = 0): Promise<{ origin: string; port: number }> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${address.port}`, port: address.port };
}

export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive sockets and requests held by a "hang" outage would keep close() waiting forever.
  server.closeAllConnections();
  await closed;
}

export function sendJSON(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendHTML(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' });
  res.end(html);
}

export function escapeHTML(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An `application/x-www-form-urlencoded` body, at most `limit` bytes. */
export async function readForm(req: IncomingMessage, limit = 64 * 1024): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RangeError('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * How a "down" endpoint fails: `unavailable` answers 503, `reset` destroys the connection
 * without an answer, `hang` accepts the request and never answers (until the server closes).
 */
export type Outage = 'unavailable' | 'reset' | 'hang';

export interface OutageSwitch {
  down(how?: Outage): void;
  up(): void;
  /** The current outage, `null` when up. */
  readonly current: Outage | null;
  /** Fails the request as the current outage says and answers true; false when up. */
  refuse(req: IncomingMessage, res: ServerResponse): boolean;
}

export function createOutageSwitch(): OutageSwitch {
  let current: Outage | null = null;
  return {
    down(how: Outage = 'unavailable') {
      current = how;
    },
    up() {
      current = null;
    },
    get current() {
      return current;
    },
    refuse(req, res) {
      switch (current) {
        case null:
          return false;
        case 'unavailable':
          sendJSON(res, 503, { message: 'Service Unavailable' }, { 'retry-after': '1' });
          return true;
        case 'reset':
          req.socket.destroy();
          return true;
        case 'hang':
          return true;
      }
    },
  };
}
