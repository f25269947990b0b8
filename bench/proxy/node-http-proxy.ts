// For comparison: node:http with http-proxy (a keep-alive agent to the upstream), the other
// forwarding engine the design considered.
// `node bench/proxy/node-http-proxy.ts <upstream origin> [port]` prints its URL, stops on SIGTERM.
import { once } from 'node:events';
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';

const origin = process.argv[2];
if (origin === undefined) throw new TypeError('usage: node-http-proxy.ts <upstream origin> [port]');

const proxy = httpProxy.createProxyServer({ target: origin, agent: new Agent({ keepAlive: true, maxSockets: 256 }), xfwd: false });
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});
const server = createServer((req, res) => proxy.web(req, res));
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
