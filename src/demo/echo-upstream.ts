// An httpbin-like upstream on plain node:http (or node:https), for tests, benchmarks and the demo.
//
//   any path              200, JSON describing the request (see EchoRecord)
//   /status/<code>        that status (200–599), the same JSON (no body for 204 and 304)
//   /delay/<ms>           the same JSON after <ms> milliseconds (at most 60 000)
//   /bytes/<n>            n bytes of a repeating pattern, streamed (at most 10 GiB); with
//                         ?rate=<bytes/s>, paced at that rate (a tenth every 100 ms)
//   /response-headers?k=v each query parameter as a response header (repeats kept: Set-Cookie)
//
// With `pages` (the demo), a browser gets a page instead (echo-page.ts: the identity headers and
// the assertion, verified against the proxy's keys).
// Behind Portcullis, the JSON also shows who called (`identity`): the X-Portcullis-* headers,
// and the claims of X-Portcullis-Assertion, decoded for display only — an upstream that relies
// on them verifies the signature first (docs/identity.md).
//
// Request bodies are streamed through SHA-256, never buffered, so a large upload costs no
// memory. In-process: `const echo = await startEchoServer()`; as its own process:
// `npx portcullis echo --port 8080 [--host 127.0.0.1]` (or `node src/demo/echo-upstream.ts … [--record]` on Node 24), which prints
// its URL on the first line of stdout and stops on SIGTERM or SIGINT.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createEchoPages, type EchoPageOptions, type EchoPages } from './echo-page.ts';

export interface EchoRecord {
  readonly method: string;
  /** The path exactly as received, without the query: nothing decoded, nothing merged. */
  readonly path: string;
  /** The raw query string without `?`; empty when there is none. */
  readonly query: string;
  /** Node's view of the request headers: lower-case names. */
  readonly headers: IncomingHttpHeaders;
  /** Names and values exactly as received, in order. */
  readonly rawHeaders: readonly string[];
  readonly body: { readonly length: number; readonly sha256: string };
  /** Who called, as Portcullis said it; absent when no X-Portcullis-* header came. */
  readonly identity?: EchoIdentity;
}

export interface EchoIdentity {
  readonly subject?: string;
  readonly email?: string;
  readonly groups?: string;
  readonly clientId?: string;
  /** The assertion's claims, decoded but NOT verified: for display. */
  readonly assertionClaims?: unknown;
}

export interface EchoServerOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Keep every request in `requests` (default true); turn off for benchmarks. */
  readonly record?: boolean;
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /**
   * Answer browsers (Accept: text/html) on plain paths with a page of what came from Portcullis,
   * the assertion verified against these keys (the demo); without it, JSON for everyone.
   */
  readonly pages?: EchoPageOptions;
}

export interface EchoServer {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`) */
  readonly url: string;
  readonly port: number;
  readonly server: Server | HttpsServer;
  /** Requests answered so far, oldest first (empty when recording is off). */
  readonly requests: EchoRecord[];
  close(): Promise<void>;
}

const MAX_DELAY_MS = 60_000;
const MAX_BYTES = 10 * 1024 ** 3;
const PATTERN = Buffer.alloc(64 * 1024, 'portcullis-echo-');
const EMPTY_SHA256 = createHash('sha256').digest('hex');

export async function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const requests: EchoRecord[] = [];
  const record = options.record ?? true;
  const pages = options.pages === undefined ? null : createEchoPages(options.pages);
  const handler = (req: IncomingMessage, res: ServerResponse): void => handle(req, res, record ? requests : null, pages);
  const server = options.tls === undefined ? createServer(handler) : createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler);
  // Slow upstream tests keep connections idle for a while; never let Node cut them first.
  server.keepAliveTimeout = 65_000;
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port, address, family } = server.address() as AddressInfo;
  const host = family === 'IPv6' ? `[${address}]` : address;
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${port}`,
    port,
    server,
    requests,
    close: () => closeServer(server),
  };
}

export function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function handle(req: IncomingMessage, res: ServerResponse, requests: EchoRecord[] | null, pages: EchoPages | null): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);

  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    // No body (the common case): answer at once, without hashing nothing.
    req.resume();
    finish(req, res, requests, path, query, 0, EMPTY_SHA256, pages);
    return;
  }
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    length += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => finish(req, res, requests, path, query, length, hash.digest('hex'), pages));
}

function finish(
  req: IncomingMessage, res: ServerResponse, requests: EchoRecord[] | null, path: string, query: string, length: number, sha256: string, pages: EchoPages | null,
): void {
  const identity = identityOf(req.headers);
  const record: EchoRecord = { method: req.method ?? 'GET', path, query, headers: req.headers, rawHeaders: req.rawHeaders, body: { length, sha256 }, ...(identity === null ? {} : { identity }) };
  requests?.push(record);
  const browser = pages !== null && (req.method === 'GET' || req.method === 'HEAD') && (req.headers.accept ?? '').includes('text/html') && !/^\/(?:(?:status|delay|bytes)\/|response-headers$)/.test(path);
  if (browser) {
    pages.render(record.method, path, req.headers).then(({ html, policy }) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'content-security-policy': policy, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : html);
    }, (error: unknown) => res.destroy(error as Error));
    return;
  }
  respond(res, record).catch((error: unknown) => res.destroy(error as Error));
}

function identityOf(headers: IncomingHttpHeaders): EchoIdentity | null {
  const header = (name: string) => (typeof headers[name] === 'string' ? headers[name] : undefined);
  const assertion = header('x-portcullis-assertion');
  const identity: Record<string, unknown> = {
    subject: header('x-portcullis-subject'),
    email: header('x-portcullis-email'),
    groups: header('x-portcullis-groups'),
    clientId: header('x-portcullis-client-id'),
    assertionClaims: assertion === undefined ? undefined : decodedClaims(assertion),
  };
  const present = Object.entries(identity).filter(([, value]) => value !== undefined);
  return present.length === 0 ? null : (Object.fromEntries(present) as EchoIdentity);
}

function decodedClaims(jws: string): unknown {
  try {
    return JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    return 'not a JWT';
  }
}

async function respond(res: ServerResponse, record: EchoRecord): Promise<void> {
  const [, first, second] = record.path.split('/');

  if (first === 'status' && second !== undefined && /^[2-5][0-9]{2}$/.test(second)) {
    const status = Number(second);
    if (status === 204 || status === 304) res.writeHead(status).end();
    else sendJson(res, status, record);
    return;
  }

  if (first === 'delay' && second !== undefined && /^[0-9]{1,5}$/.test(second)) {
    const delay = Math.min(Number(second), MAX_DELAY_MS);
    const timer = setTimeout(() => sendJson(res, 200, record), delay);
    res.on('close', () => clearTimeout(timer));
    return;
  }

  if (first === 'bytes' && second !== undefined && /^[0-9]{1,12}$/.test(second)) {
    const rate = /^rate=([0-9]{1,12})$/.exec(record.query);
    await sendBytes(res, Math.min(Number(second), MAX_BYTES), rate === null ? null : Number(rate[1]));
    return;
  }

  if (first === 'response-headers') {
    const headers: string[] = [];
    for (const [name, value] of new URLSearchParams(record.query)) headers.push(name, value);
    headers.push('content-type', 'application/json');
    res.writeHead(200, headers);
    res.end(JSON.stringify(record));
    return;
  }

  sendJson(res, 200, record);
}

function sendJson(res: ServerResponse, status: number, record: EchoRecord): void {
  const body = JSON.stringify(record);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function sendBytes(res: ServerResponse, total: number, rate: number | null): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  // Chunks start where the pattern starts (16 bytes), so that paced or not the bytes are the same.
  const size = rate === null ? PATTERN.length : Math.min(PATTERN.length, Math.max(16, Math.floor(rate / 10 / 16) * 16));
  let left = total;
  while (left > 0 && !res.destroyed) {
    const chunk = PATTERN.subarray(0, Math.min(size, left));
    left -= chunk.length;
    if (!res.write(chunk)) await drainedOrClosed(res);
    if (rate !== null) await sleep(100);
  }
  res.end();
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The SHA-256 that `/bytes/<n>` streams, for tests that check a download. */
export function expectedBytesSha256(n: number): string {
  const hash = createHash('sha256');
  for (let left = n; left > 0; left -= PATTERN.length) hash.update(left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left));
  return hash.digest('hex');
}

// --- as its own process -----------------------------------------------------------------

const SCRIPT = fileURLToPath(import.meta.url);

export interface EchoProcess {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts the echo server as a child process on the given port (0: any) and waits for its URL. */
export async function spawnEchoServer(options: { readonly port?: number; readonly host?: string } = {}): Promise<EchoProcess> {
  const child = spawn(process.execPath, [SCRIPT, '--port', String(options.port ?? 0), '--host', options.host ?? '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      out += text;
      const newline = out.indexOf('\n');
      if (newline !== -1) resolve(out.slice(0, newline).trim());
    });
    child.once('exit', (code) => reject(new Error(`echo server exited with ${code} before printing its URL`)));
    child.once('error', reject);
  });
  return {
    url,
    pid: child.pid as number,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `node src/demo/echo-upstream.ts --port N [--host H] [--record]`: prints its URL, stops on SIGTERM/SIGINT. */
export async function runEchoServerCli(argv: readonly string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i === -1 ? undefined : argv[i + 1];
  };
  const port = Number(arg('--port') ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`--port must be a port number, not ${arg('--port')}`);
  const echo = await startEchoServer({ port, host: arg('--host') ?? '127.0.0.1', record: argv.includes('--record') });
  process.stdout.write(`${echo.url}\n`);
  const stop = (): void => {
    echo.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && process.argv[1] === SCRIPT) {
  runEchoServerCli(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
