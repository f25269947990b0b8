// HTTP for provider metadata and keys: bounded in time and size, with extra CA certificates.
// A failure says why in a person's words, with the system's own code (ECONNREFUSED, …).
import { STATUS_CODES } from 'node:http';
import { getCACertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { ProviderError } from './errors.ts';

export type FetchJSON = (url: string) => Promise<unknown>;

export interface FetcherOptions {
  /** PEM certificates to trust beside the process's own (NODE_EXTRA_CA_CERTS included). */
  readonly caBundle: string | null;
  readonly timeoutMs?: number;
  /** The largest document accepted. */
  readonly maxBytes?: number;
}

export function createFetcher(options: FetcherOptions): { fetchJSON: FetchJSON; close(): Promise<void> } {
  const timeoutMs = options.timeoutMs ?? 5_000;
  // `ca` replaces Node's list rather than adding to it: start from the default list, which
  // holds the bundled roots and NODE_EXTRA_CA_CERTS.
  const ca = options.caBundle === null ? undefined : [...getCACertificates('default'), options.caBundle];
  const dispatcher = new Agent({ connect: { ca, timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  // Each phase (connect, headers, body) has `timeoutMs`; the whole fetch twice that.
  const totalMs = 2 * timeoutMs;
  return {
    async fetchJSON(url) {
      const target = URL.parse(url);
      if (target === null || !/^https?:$/.test(target.protocol)) throw new ProviderError('URL_INVALID', 'the URL is not an http(s) URL');
      // fetch() refuses them anyway, and its message would repeat the password.
      if (target.username !== '' || target.password !== '') throw new ProviderError('URL_INVALID', 'the URL carries a user name or password, which Portcullis never sends');
      try {
        const response = await undiciFetch(url, { dispatcher, headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(totalMs) });
        if (!response.ok) {
          await response.body?.cancel();
          const words = STATUS_CODES[response.status];
          const unavailable = response.status >= 500 || response.status === 429;
          throw new ProviderError(unavailable ? 'HTTP_UNAVAILABLE' : 'HTTP_STATUS', `it answered HTTP ${response.status}${words ? ` ${words}` : ''}`);
        }
        const text = await readBounded(response.body, maxBytes);
        try {
          return JSON.parse(text) as unknown;
        } catch (error) {
          const type = response.headers.get('content-type');
          throw new ProviderError('NOT_JSON', `it sent a body that is not JSON${type ? ` (content-type ${printable(type)})` : ''}`, { cause: error });
        }
      } catch (error) {
        if (error instanceof ProviderError) throw error;
        throw describeFetchFailure(error, target, { phaseMs: timeoutMs, totalMs });
      }
    },
    close: () => dispatcher.close(),
  };
}

/** The body as text, refused once it passes `maxBytes` (the rest is not read). */
async function readBounded(body: AsyncIterable<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new ProviderError('TOO_LARGE', `it sent more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Certificate verification failures that a CA bundle can cure. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

interface SystemError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly address?: string;
  readonly port?: number;
  readonly reason?: string;
}

/**
 * fetch() rejects with `TypeError: fetch failed` and the real reason in `cause` (sometimes one
 * level deeper): the reason is what a person needs, the code is what they search for.
 */
export function describeFetchFailure(error: unknown, url: URL, limits?: { readonly phaseMs: number; readonly totalMs: number }): ProviderError {
  const cause = innermost(error);
  const code = cause.code ?? '';
  const host = url.hostname;
  const hostPort = `${host}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  const fail = (kind: ProviderError['code'], message: string) => new ProviderError(kind, message, { cause: error });
  const within = (ms: number | undefined) => (ms === undefined ? 'in time' : `within ${ms} ms`);

  if (code === 'ECONNREFUSED') return fail('CONNECTION_REFUSED', `connection refused (ECONNREFUSED ${cause.address && cause.port ? `${cause.address}:${cause.port}` : hostPort})`);
  if (code === 'ENOTFOUND') return fail('HOST_NOT_FOUND', `the host name was not found (ENOTFOUND ${host})`);
  if (code === 'EAI_AGAIN') return fail('HOST_NOT_FOUND', `the host name could not be resolved now (EAI_AGAIN ${host})`);
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return fail('HOST_UNREACHABLE', `the host is unreachable (${code} ${hostPort})`);
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return fail('CONNECTION_CLOSED', `the connection was closed before a complete answer (${code})`);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return fail('TIMEOUT', `no connection to ${hostPort} ${within(limits?.phaseMs)} (timeout)`);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return fail('TIMEOUT', `no answer ${within(limits?.phaseMs)} (timeout)`);
  if (code === 'UND_ERR_BODY_TIMEOUT') return fail('TIMEOUT', `the body stalled (timeout)`);
  if (cause.name === 'TimeoutError' || cause.name === 'AbortError') return fail('TIMEOUT', `no complete answer ${within(limits?.totalMs)} (timeout)`);
  if (UNTRUSTED_CERTIFICATE.has(code)) {
    return fail('TLS_UNTRUSTED', `the provider's certificate is not trusted: ${opensslReason(cause)} (${code}); add its CA with spec.caBundleRef`);
  }
  if (code === 'CERT_HAS_EXPIRED') return fail('TLS_CERTIFICATE_INVALID', `the provider's certificate has expired (${code})`);
  if (code === 'CERT_NOT_YET_VALID') return fail('TLS_CERTIFICATE_INVALID', `the provider's certificate is not valid yet (${code})`);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = /altnames: (.+)$|cert's list: (.+)$/.exec(cause.reason ?? '');
    const listed = names?.[1] ?? names?.[2];
    return fail('TLS_CERTIFICATE_INVALID', `the provider's certificate is not valid for ${host}${listed ? `; it names ${listed}` : ''} (${code})`);
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_') || code.includes('_CERT')) {
    return fail('TLS_FAILED', `the TLS handshake with ${hostPort} failed: ${opensslReason(cause)} (${code})`);
  }
  // fetch() never connects to some well-known ports (the Fetch standard's "bad ports").
  if (cause.message === 'bad port') return fail('URL_INVALID', `fetch never connects to port ${url.port} (bad port); use another port`);
  if (cause.message === 'unexpected redirect') return fail('REDIRECTED', 'it answered with a redirect, which is not followed (set the final URL)');
  const detail = printable(cause.message ?? String(error));
  return fail('NETWORK', code ? `${detail} (${code})` : detail);
}

/**
 * Why a call to another of the provider's endpoints (token, revocation) failed, in the same
 * words: an OAuth error answer by its `error` (invalid_client: a wrong client secret), a
 * network failure by its cause. Never the request, which carries the client secret.
 */
export function describeEndpointFailure(error: unknown, endpoint: string | undefined): { readonly code: string; readonly message: string } {
  const answer = error as { error?: unknown; error_description?: unknown; status?: unknown } | null;
  if (typeof answer?.error === 'string' && typeof answer.status === 'number') {
    const description = typeof answer.error_description === 'string' ? ` (${printable(answer.error_description)})` : '';
    return { code: printable(answer.error), message: `it answered HTTP ${answer.status} with ${printable(answer.error)}${description}` };
  }
  // A network failure, however wrapped (openid-client wraps some in "something went wrong").
  const cause = innermost(error);
  const target = endpoint === undefined ? null : URL.parse(endpoint);
  const systemCode = typeof cause.code === 'string' && !cause.code.startsWith('OAUTH_');
  if (target !== null && cause !== error && (systemCode || cause.name === 'TimeoutError')) {
    const described = describeFetchFailure(error, target);
    return { code: described.code, message: described.message };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const status = (error as { cause?: { status?: unknown } } | null)?.cause?.status;
  const message = error instanceof Error ? printable(error.message) : printable(String(error));
  return { code: typeof code === 'string' ? code : 'ERROR', message: typeof status === 'number' ? `it answered HTTP ${status}: ${message}` : message };
}

function innermost(error: unknown): SystemError {
  let current = error as SystemError & { cause?: unknown };
  while (typeof current?.cause === 'object' && current.cause !== null) current = current.cause as SystemError & { cause?: unknown };
  return typeof current === 'object' && current !== null ? current : { message: String(error) };
}

/** OpenSSL's reason, without Node's hint about --use-system-ca (the advice here is caBundleRef). */
function opensslReason(cause: SystemError): string {
  const text = cause.reason ?? cause.message ?? 'unknown reason';
  return printable(text.replace(/; if the root CA is installed locally.*$/s, ''));
}

/** One short line: no control characters, no URL credentials, bounded. */
function printable(text: string): string {
  const line = text.replace(/\p{Cc}+/gu, ' ').replace(/\/\/[^/\s@]*@/g, '//').trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
