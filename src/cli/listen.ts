import { UsageError } from './usage-error.ts';

/** Where a listener binds; no host means every interface. */
export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

/**
 * `host:port`, `:port`, `port` or `[v6]:port` → what `listen()` takes. The host part, when there
 * is one, ends with the last colon: a bare number is always a port.
 */
export function parseListen(value: string, flag: string): ListenAddress {
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):)?([0-9]{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new UsageError(`${flag} takes host:port, :port or port (0–65535), not ${JSON.stringify(value)}.`);
  const host = match[1] ?? (match[2] || undefined);
  return { host, port };
}

/** The URL a listener answers on, for logs and tests. */
export function listenURL(address: { address: string; port: number; family: string } | string | null, scheme = 'http'): string {
  if (address === null || typeof address === 'string') return String(address);
  const host = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}
