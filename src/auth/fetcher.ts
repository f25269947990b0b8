// HTTP for provider metadata and keys: bounded in time and size, with extra CA certificates.
import { getCACertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';

export type FetchJSON = (url: string) => Promise<unknown>;

export interface FetcherOptions {
  /** PEM certificates to trust beside the process's own (NODE_EXTRA_CA_CERTS included). */
  readonly caBundle: string | null;
  readonly timeoutMs?: number;
  /** The largest document accepted. */
  readonly maxBytes?: number;
}

export function createFetcher(options: FetcherOptions): { fetchJSON: FetchJSON; close(): Promise<void> } {
  // `ca` replaces Node's list rather than adding to it: start from the default list, which
  // holds the bundled roots and NODE_EXTRA_CA_CERTS.
  const ca = options.caBundle === null ? undefined : [...getCACertificates('default'), options.caBundle];
  const dispatcher = new Agent({ connect: { ca, timeout: options.timeoutMs ?? 5_000 }, headersTimeout: options.timeoutMs ?? 5_000, bodyTimeout: options.timeoutMs ?? 5_000 });
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  return {
    async fetchJSON(url) {
      const response = await undiciFetch(url, { dispatcher, headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`${url} answered ${response.status}`);
      }
      const text = await response.text();
      if (text.length > maxBytes) throw new Error(`${url} sent more than ${maxBytes} bytes`);
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`${url} sent a body that is not JSON`);
      }
    },
    close: () => dispatcher.close(),
  };
}
