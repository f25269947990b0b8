// The edge tests' setting: `portcullis standalone` as its own process in front of one echo
// upstream, with public rules (/public, and the echo's own /bytes/<n> and /delay/<ms>) and a
// rule protected by a Cognito-shaped bearer policy (/m2m), all to that upstream; and raw
// sockets for clients that behave badly. /browser is protected by a browser sign-in policy,
// whose redirects the guard writes itself.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

export interface Edge {
  readonly proxy: PortcullisProcess;
  readonly echo: EchoServer;
  readonly mint: CognitoMint;
  /** What the upstream saw: connections opened and open now, request heads received. */
  readonly upstream: UpstreamWatch;
  /** `Authorization` for the protected rule: a valid machine access token. */
  bearer(): Record<string, string>;
  close(): Promise<void>;
}

export interface UpstreamWatch {
  opened: number;
  open: number;
  /** Request heads received (the echo records a request only once its body has ended). */
  heads: number;
  /** Responses the upstream could not finish (its client, the proxy, went away). */
  cutResponses: number;
  /** Request bodies that ended before they were complete. */
  cutRequests: number;
}

/** Starts the echo upstream, the mint and the proxy with `flags`; `extraRules` are appended to the Route. */
export async function startEdge(flags: readonly string[] = [], extraRules = ''): Promise<Edge> {
  const echo = await startEchoServer({ record: false });
  const upstream = watchUpstream(echo);
  const mint = await startCognitoMint();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-edge-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    policyYAML('machines', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}`) +
      policyYAML('browsers', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  clientSecretRef: {name: web-client, key: secret}
  browser: {}`) +
      secretYAML('web-client', { secret: 'web-client-secret' }) +
      routeYAML('edge', `  rules:
    - matches: [{path: {value: /public}}, {path: {value: /bytes}}, {path: {value: /delay}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /m2m}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /browser}}]
      policyRef: {name: browsers}
      backends: [{url: "${echo.url}"}]
${extraRules}`),
  );
  const proxy = await startPortcullis(['standalone', '-f', dir, ...flags]);
  for (const policy of ['machines', 'browsers']) {
    await proxy.waitForLog((line) => line.policy === `default/${policy}` && line.condition === 'Ready' && line.status === 'True');
  }
  return {
    proxy,
    echo,
    mint,
    upstream,
    bearer: () => ({ authorization: `Bearer ${mint.mint()}` }),
    async close() {
      await proxy.stop();
      await Promise.all([echo.close(), mint.close()]);
    },
  };
}

function watchUpstream(echo: EchoServer): UpstreamWatch {
  const watch: UpstreamWatch = { opened: 0, open: 0, heads: 0, cutResponses: 0, cutRequests: 0 };
  echo.server.on('connection', (socket: Socket) => {
    watch.opened += 1;
    watch.open += 1;
    socket.once('close', () => (watch.open -= 1));
  });
  echo.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    watch.heads += 1;
    req.once('close', () => {
      if (!req.complete) watch.cutRequests += 1;
    });
    res.once('close', () => {
      if (!res.writableFinished) watch.cutResponses += 1;
    });
  });
  return watch;
}

/** A client on a raw socket: what it received so far, and whether the proxy closed it. */
export interface RawClient {
  readonly socket: Socket;
  /** Everything received, as latin1 text. */
  received(): string;
  /** True once the connection is closed (an end, a reset, or our own destroy). */
  closed(): boolean;
  /** Resolves once `received()` holds a whole response head (or the connection closed). */
  head(timeoutMs?: number): Promise<ResponseHead>;
  /** Resolves with the body of the first final response, once its `Content-Length` bytes arrived. */
  body(timeoutMs?: number): Promise<string>;
  /** Resolves when the connection closes; the time it took, from the call. */
  untilClosed(timeoutMs?: number): Promise<number>;
}

export interface ResponseHead {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Status lines of informational responses (100 Continue) before it. */
  readonly informational: readonly string[];
}

/** Connects to the proxy. With `read: false`, nothing is ever read from the socket. */
export async function rawClient(url: string, options: { read?: boolean } = {}): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let text = '';
  let isClosed = false;
  socket.on('error', () => {}); // resets are expected: closed() says so
  socket.once('close', () => (isClosed = true));
  if (options.read !== false) socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  else socket.pause();
  await once(socket, 'connect');
  const client: RawClient = {
    socket,
    received: () => text,
    closed: () => isClosed,
    async head(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const parsed = parseHead(text);
        if (parsed !== null) return parsed;
        if (isClosed) throw new Error(`The connection closed without a response head: ${JSON.stringify(text.slice(0, 200))}`);
        if (Date.now() > deadline) throw new Error(`No response head within ${timeoutMs} ms: ${JSON.stringify(text.slice(0, 200))}`);
        await sleep(10);
      }
    },
    async body(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      const head = await client.head(timeoutMs);
      const length = Number(head.headers['content-length']);
      for (;;) {
        const start = text.indexOf('\r\n\r\n', text.lastIndexOf(`HTTP/1.1 ${head.status}`)) + 4;
        if (text.length - start >= length) return text.slice(start, start + length);
        if (isClosed || Date.now() > deadline) throw new Error(`Incomplete body: ${JSON.stringify(text.slice(0, 300))}`);
        await sleep(10);
      }
    },
    async untilClosed(timeoutMs = 10_000) {
      const started = Date.now();
      while (!isClosed) {
        if (Date.now() - started > timeoutMs) throw new Error(`The connection stayed open for ${timeoutMs} ms.`);
        await sleep(10);
      }
      return Date.now() - started;
    },
  };
  return client;
}

/** The first final response head in `text`, after any 1xx; null while incomplete. */
export function parseHead(text: string): ResponseHead | null {
  const informational: string[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    rest = rest.slice(end + 4);
    if (status >= 100 && status < 200) {
      informational.push(statusLine);
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status, headers, informational };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident memory of the proxy, in MB, for the test output. */
export function rssMB(proxy: PortcullisProcess): string {
  return (proxy.rss() / 2 ** 20).toFixed(1);
}
