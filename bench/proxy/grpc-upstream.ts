// The gRPC upstream of the gRPC rows: cleartext HTTP/2 (h2c), every unary call answered with an
// empty message and grpc-status 0 — a server as cheap as it gets, so the rows measure the proxy.
// Prints its URL on its first line; stops on SIGTERM.
import { createServer } from 'node:http2';

const server = createServer();
server.on('stream', (stream) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  stream.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
