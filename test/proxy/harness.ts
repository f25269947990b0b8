// A minimal forwarding proxy and an HTTP client for the forwarding tests: real sockets on
// loopback, port 0.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { headersFromClient } from '../../src/proxy/forward/hop-by-hop.ts';
import type { ForwardOutcome, ForwardTarget, ForwardTimeouts } from '../../src/proxy/forward/types.ts';
import { closeServer } from '../support/echo-server.ts';

export const TIMEOUTS: ForwardTimeouts = { connectMs: 2_000, headersMs: 5_000, bodyIdleMs: 5_000 };

export interface TestProxy {
  readonly url: string;
  /** Outcomes, in the order exchanges finished. */
  readonly outcomes: ForwardOutcome[];
  /** Resolves with the next outcome to finish. */
  nextOutcome(): Promise<ForwardOutcome>;
  close(): Promise<void>;
}

/**
 * A node:http server that calls `handle` for every request and answers `error.status` with
 * `{ code }` when the exchange failed before a response started.
 */
export async function startTestProxy(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<ForwardOutcome | null>,
): Promise<TestProxy> {
  const outcomes: ForwardOutcome[] = [];
  const waiters: ((outcome: ForwardOutcome) => void)[] = [];
  const server = createServer((req, res) => {
    handle(req, res).then((outcome) => {
      if (outcome === null) {
        res.writeHead(503).end();
        return;
      }
      if (outcome.error !== null && !outcome.responseStarted && !res.destroyed) {
        res.writeHead(outcome.error.status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: outcome.error.code }));
      }
      outcomes.push(outcome);
      waiters.shift()?.(outcome);
    }, (error: unknown) => {
      res.destroy(error as Error);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    outcomes,
    nextOutcome: () => new Promise((resolve) => waiters.push(resolve)),
    close: () => closeServer(server),
  };
}

/** The target the pipeline would build: the request's own path, the client's headers. */
export function plainTarget(req: IncomingMessage, origin: string, overrides: Partial<ForwardTarget> = {}): ForwardTarget {
  return {
    origin,
    path: req.url ?? '/',
    headers: headersFromClient(req.headers),
    timeouts: TIMEOUTS,
    signal: null,
    ...overrides,
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: Buffer;
}

export interface SendOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: Buffer | Readable;
}

/** One request on a fresh connection; the whole answer in memory (small bodies only). */
export async function send(url: string, options: SendOptions = {}): Promise<Reply> {
  const res = await open(url, options);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) };
}

/** Like send, but hashes the answer instead of keeping it. */
export async function sendHashed(url: string, options: SendOptions = {}): Promise<{ status: number; length: number; sha256: string }> {
  const res = await open(url, options);
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of res) {
    length += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { status: res.statusCode ?? 0, length, sha256: hash.digest('hex') };
}

/** Sends the path exactly as written in `url` (a URL object would resolve `..` and `%2e`). */
export function open(url: string, options: SendOptions = {}): Promise<IncomingMessage> {
  const { origin, hostname, port } = new URL(url);
  const path = url.slice(origin.length) || '/';
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, resolve);
    req.on('error', reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/**
 * A stream of `total` bytes made of one repeated block: costs no memory, whatever its size.
 * Its SHA-256 is `repeatedSha256(total)`.
 */
export function repeatedStream(total: number, block = BLOCK): Readable {
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = left >= block.length ? block : block.subarray(0, left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

export function repeatedSha256(total: number, block = BLOCK): string {
  const hash = createHash('sha256');
  for (let left = total; left > 0; left -= block.length) hash.update(left >= block.length ? block : block.subarray(0, left));
  return hash.digest('hex');
}

const BLOCK = Buffer.alloc(64 * 1024, 'upload-');
