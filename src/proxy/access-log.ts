// One access-log line per request. Query values that can carry credentials are redacted.

const SECRET_PARAMS = new Set(['code', 'state', 'token', 'access_token', 'id_token', 'refresh_token', 'client_secret', 'id_token_hint', 'session_state', 'code_verifier', 'assertion', 'password']);

/** `a=1&code=xyz` → `a=1&code=[redacted]`; the rest of the query is kept as sent. */
export function redactQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replaceAll('+', ' '));
      } catch {
        // keep the raw name
      }
      return SECRET_PARAMS.has(decoded.toLowerCase()) && eq !== -1 ? `${name}=[redacted]` : pair;
    })
    .join('&');
}

export interface AccessLogEntry {
  requestId: string;
  method: string;
  host: string | undefined;
  path: string;
  status: number;
  durationMs: number;
  route?: string;
  upstream?: string;
  attempts?: number;
  bytesIn?: number;
  bytesOut?: number;
  code?: string;
  policy?: string;
  decision?: string;
  reason?: string;
  cause?: string;
  sub?: string;
  clientId?: string;
  peer?: string;
}
