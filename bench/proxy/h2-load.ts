// An HTTP/2 load generator for the HTTP/2 rows (wrk speaks HTTP/1.1 only): its own process, so
// its CPU time is not the row's. C connections, each with S requests in flight at once, for a
// duration; prints one JSON line: requests, errors, requests per second, p50 and p99.
//
//   node bench/proxy/h2-load.ts <url> --mode get|grpc --path /anything [--connections 4]
//     [--streams 8] [--duration 5] [--ca <file>] [--servername <name>] [--authority <host>]
//
// `grpc`: a unary call (an empty message) whose trailers must say grpc-status 0.
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

export interface H2LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** A unary call's body: the 5-byte gRPC frame of an empty message. */
const EMPTY_GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

function option(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i === -1 ? fallback : (argv[i + 1] ?? fallback);
}

async function main(argv: readonly string[]): Promise<void> {
  const url = argv[0]!;
  const mode = option(argv, '--mode', 'get');
  const path = option(argv, '--path', '/anything');
  const connections = Number(option(argv, '--connections', '4'));
  const streams = Number(option(argv, '--streams', '8'));
  const durationMs = Number(option(argv, '--duration', '5')) * 1000;
  const ca = option(argv, '--ca', '');
  const servername = option(argv, '--servername', '');
  const authority = option(argv, '--authority', '');

  const headers: OutgoingHttpHeaders =
    mode === 'grpc'
      ? { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' }
      : { ':method': 'GET', ':path': path };
  if (authority !== '') headers[':authority'] = authority;
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + durationMs;

  const one = (session: ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const stream = session.request(headers, { endStream: mode !== 'grpc' });
      let status = 0;
      let grpcStatus: string | undefined;
      stream.on('response', (response: IncomingHttpHeaders) => {
        status = Number(response[':status']);
        grpcStatus = response['grpc-status'] as string | undefined;
      });
      stream.on('trailers', (trailers: IncomingHttpHeaders) => (grpcStatus = trailers['grpc-status'] as string | undefined));
      stream.on('data', () => {});
      stream.on('close', () => {
        const ok = status === 200 && (mode !== 'grpc' || grpcStatus === '0') && stream.rstCode === 0;
        if (ok) latencies.push(performance.now() - started);
        else errors++;
        resolve();
      });
      stream.on('error', () => {});
      if (mode === 'grpc') stream.end(EMPTY_GRPC_MESSAGE);
    });

  const sessions = Array.from({ length: connections }, () => connect(url, { ...(ca === '' ? {} : { ca: readFileSync(ca) }), ...(servername === '' ? {} : { servername }) }));
  for (const session of sessions) session.on('error', () => {});
  const started = performance.now();
  await Promise.all(
    sessions.flatMap((session) =>
      Array.from({ length: streams }, async () => {
        while (performance.now() < deadline && !session.destroyed) await one(session);
      }),
    ),
  );
  const elapsedS = (performance.now() - started) / 1000;
  for (const session of sessions) session.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const result: H2LoadResult = { requests: latencies.length, errors, requestsPerSecond: latencies.length / elapsedS, p50Ms: at(0.5), p99Ms: at(0.99) };
  console.log(JSON.stringify(result));
}

if (process.argv[1] === import.meta.filename) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
