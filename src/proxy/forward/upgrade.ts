// WebSocket upgrades, relayed with http-proxy: it opens a fresh connection per upgrade, sends
// the handshake, and once the upstream answers `101` pipes the two sockets together. We
// choose exactly what it sends (path and headers, prepared by the caller like any forwarded
// request) and report how the handshake ended.
import { STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { setsProxyCookie, upstreamRequestHeaders } from './hop-by-hop.ts';
import { ForwardError, type UpstreamHeaders } from './types.ts';

export interface UpgradeTarget {
  /** `http://10.0.0.7:8080` or `https://…` (the handshake goes over TLS: `wss`). */
  readonly origin: string;
  /** The normalised path and query, as matched. */
  readonly path: string;
  /** Prepared like ForwardTarget.headers (start from `headersFromClient`); `Connection`/`Upgrade` are set here. */
  readonly headers: UpstreamHeaders;
  /** The handshake must connect within `connectMs` and be answered within `headersMs` more. */
  readonly timeouts: { readonly connectMs: number; readonly headersMs: number };
  /** Aborts the handshake (not an established connection). */
  readonly signal: AbortSignal | null;
  /** The answer's `X-Request-Id` (101, a refusal relayed, or our error), in place of any the upstream sent. */
  readonly requestId?: string;
  /** As ForwardTarget.proxyCookies: the upstream's Set-Cookie lines for these are removed from its answer. */
  readonly proxyCookies?: readonly string[];
  /** Set-Cookie lines of ours for the upstream's answer (a refreshed or re-sealed session), beside its own. */
  readonly cookies?: readonly string[];
}

export interface UpgradeOutcome {
  readonly origin: string;
  /** 101 when the connection was upgraded; another status when the upstream refused (relayed as is); null on error. */
  readonly status: number | null;
  /** Null unless the handshake failed; a minimal error response was then written to the socket. */
  readonly error: ForwardError | null;
}

/**
 * Relays a WebSocket handshake (`server.on('upgrade', (req, socket, head) => …)`) to the
 * target. Resolves once the handshake is over; the relayed connection then lives on its own.
 */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: UpgradeTarget): Promise<UpgradeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let proxyReq: ClientRequest | null = null;
    let connected = false;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const settle = (status: number | null, error: ForwardError | null): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      target.signal?.removeEventListener('abort', onAbort);
      socket.off('close', onClientClose);
      if (error !== null) {
        proxyReq?.destroy();
        if (error.code !== 'CLIENT_CLOSED') writeError(socket, error, target.requestId);
      }
      resolve({ origin: target.origin, status, error });
    };
    const onAbort = (): void => {
      const reason: unknown = target.signal?.reason;
      settle(null, typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError'
        ? new ForwardError('UPSTREAM_TIMEOUT', 'The request took longer than its time limit.', { cause: reason })
        : new ForwardError('FORWARD_ABORTED', 'The request was aborted.', { cause: reason }));
    };
    const onClientClose = (): void => settle(null, new ForwardError('CLIENT_CLOSED', 'The client closed the connection.'));

    // http-proxy silently destroys anything but a GET websocket handshake: say why instead.
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      settle(null, new ForwardError('REQUEST_INVALID', 'Only WebSocket upgrades (GET with "Upgrade: websocket") are supported.'));
      return;
    }
    let origin: URL;
    try {
      origin = new URL(target.origin);
    } catch (error) {
      settle(null, new ForwardError('UPSTREAM_CONNECT_FAILED', `The upstream origin ${target.origin} is invalid.`, { cause: error }));
      return;
    }
    if (target.signal?.aborted) {
      onAbort();
      return;
    }
    target.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('close', onClientClose);

    const proxy = httpProxy.createProxyServer({});
    proxy.on('proxyReqWs', (outgoing) => {
      proxyReq = outgoing;
      // Replace everything http-proxy copied from the client with the prepared headers.
      for (const name of outgoing.getHeaderNames()) outgoing.removeHeader(name);
      const flat = upstreamRequestHeaders(target.headers);
      const values = new Map<string, string[]>();
      for (let i = 0; i < flat.length; i += 2) {
        const name = (flat[i] as string).toLowerCase();
        const list = values.get(name) ?? [];
        list.push(flat[i + 1] as string);
        values.set(name, list);
      }
      for (const [name, list] of values) outgoing.setHeader(name, list.length === 1 ? (list[0] as string) : list);
      if (!values.has('host')) outgoing.setHeader('host', origin.host);
      outgoing.setHeader('connection', 'Upgrade');
      outgoing.setHeader('upgrade', 'websocket');
      // The path exactly as matched: http-proxy's own path handling (url.parse) re-escapes some characters.
      outgoing.path = target.path;

      outgoing.once('socket', (s) => s.once('connect', () => { connected = true; }));
      timer = setTimeout(() => {
        settle(null, connected
          ? new ForwardError('UPSTREAM_TIMEOUT', `The upstream ${target.origin} did not answer the WebSocket handshake in time.`)
          : new ForwardError('UPSTREAM_CONNECT_FAILED', `Could not connect to ${target.origin} in time.`));
      }, target.timeouts.connectMs + target.timeouts.headersMs);
      // These run before http-proxy's own listeners, which then write the upstream's headers to the client.
      outgoing.once('upgrade', (response: IncomingMessage) => {
        relayedHeaders(response, target);
        settle(101, null);
      });
      outgoing.once('response', (response: IncomingMessage) => {
        relayedHeaders(response, target);
        settle(response.statusCode ?? null, null);
      });
    });

    const hostname = origin.hostname.startsWith('[') ? origin.hostname.slice(1, -1) : origin.hostname;
    proxy.ws(req, socket, head, {
      target: { protocol: origin.protocol, hostname, host: hostname, port: origin.port === '' ? (origin.protocol === 'https:' ? 443 : 80) : Number(origin.port) },
      xfwd: false,
    }, (error) => {
      if (settled) return; // after the handshake: http-proxy ends the client socket itself
      settle(null, connected
        ? new ForwardError('UPSTREAM_RESET', `The connection to the upstream ${target.origin} was reset.`, { cause: error })
        : new ForwardError('UPSTREAM_CONNECT_FAILED', `Could not connect to ${target.origin}.`, { cause: error }));
    });
  });
}

/** The upstream's answer headers as the client gets them: our request id, our cookies and none of the upstream's for them. */
function relayedHeaders(response: IncomingMessage, target: UpgradeTarget): void {
  if (target.requestId !== undefined) response.headers['x-request-id'] = target.requestId;
  const names = target.proxyCookies ?? [];
  const theirs = (response.headers['set-cookie'] ?? []).filter((line) => names.length === 0 || !setsProxyCookie(line, names));
  const cookies = [...theirs, ...(target.cookies ?? [])];
  if (cookies.length > 0) response.headers['set-cookie'] = cookies;
  else delete response.headers['set-cookie'];
}

function writeError(socket: Duplex, error: ForwardError, requestId: string | undefined): void {
  if (socket.destroyed || !socket.writable) return;
  const body = `${error.message}\n`;
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`}connection: close\r\n\r\n${body}`,
  );
}
