// A minimal node:http server that forwards every request with the undici Forwarder: what
// Portcullis's data plane costs before matching and authentication.
// `node bench/proxy/node-forwarder.ts <upstream origin> [port]` prints its URL, stops on SIGTERM.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { headersFromClient } from '../../src/proxy/forward/hop-by-hop.ts';
import { createUndiciForwarder } from '../../src/proxy/forward/undici-forwarder.ts';

const origin = process.argv[2];
if (origin === undefined) throw new TypeError('usage: node-forwarder.ts <upstream origin> [port]');

const forwarder = createUndiciForwarder();
const timeouts = { connectMs: 5_000, headersMs: 30_000, bodyIdleMs: 30_000 };
const server = createServer((req, res) => {
  forwarder.forward(req, res, { origin, path: req.url ?? '/', headers: headersFromClient(req.headers), timeouts, signal: null }).then((outcome) => {
    if (outcome.error !== null && !outcome.responseStarted) res.writeHead(outcome.error.status).end();
  }, (error: unknown) => res.destroy(error as Error));
});
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void forwarder.close().then(() => process.exit(0));
});
