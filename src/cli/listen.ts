/** `host:port`, `:port`, `port` or `[v6]:port` → what `listen()` takes; no host means all interfaces. */
export function parseListen(value: string, flag: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*))?:?(\d+)$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`${flag} takes host:port, :port or port, not ${JSON.stringify(value)}.`);
  const host = match[1] ?? (match[2] || undefined);
  return { host, port };
}

/** The URL a listener answers on, for logs and tests. */
export function listenURL(address: { address: string; port: number; family: string } | string | null, scheme = 'http'): string {
  if (address === null || typeof address === 'string') return String(address);
  const host = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}
