// One access-log line per request: its fields, formatted by hand (they are known, and this runs
// for every request), and written by the logger's `access`. Query values that can carry
// credentials are redacted.
import type { DecisionLog } from '../model/guard.ts';

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

/** The guard's record of its decision, as the pipeline adjusts it (a denial's reason becomes the answer's code). */
type DecisionFields = { -readonly [K in keyof DecisionLog]?: DecisionLog[K] };

export interface AccessLogEntry extends DecisionFields {
  requestId: string;
  method: string;
  host: string | undefined;
  path: string;
  status: number;
  durationMs: number;
  peer?: string;
  route?: string;
  upstream?: string;
  attempts?: number;
  bytesIn?: number;
  bytesOut?: number;
  code?: string;
  cause?: string;
}

/**
 * The entry as JSON members without braces, for `Logger.access`. Every string is escaped as JSON
 * escapes it: a path, host or reason sent by a client can neither end the line nor add a field.
 * A field added to AccessLogEntry (or to the guard's DecisionLog) must be added here too: the
 * test that formats an entry with every field fails until it is.
 */
export function formatAccessLog(entry: AccessLogEntry): string {
  let line = `"requestId":${quote(entry.requestId)},"method":${quote(entry.method)}`;
  if (entry.host !== undefined) line += `,"host":${quote(entry.host)}`;
  line += `,"path":${quote(entry.path)},"status":${number(entry.status)},"durationMs":${milliseconds(entry.durationMs)}`;
  if (entry.peer !== undefined) line += `,"peer":${quote(entry.peer)}`;
  if (entry.route !== undefined) line += `,"route":${quote(entry.route)}`;
  if (entry.policy !== undefined) line += `,"policy":${quote(entry.policy)}`;
  if (entry.decision !== undefined) line += `,"decision":${quote(entry.decision)}`;
  if (entry.reason !== undefined) line += `,"reason":${quote(entry.reason)}`;
  if (entry.cause !== undefined) line += `,"cause":${quote(entry.cause)}`;
  if (entry.sub !== undefined) line += `,"sub":${quote(entry.sub)}`;
  if (entry.clientId !== undefined) line += `,"clientId":${quote(entry.clientId)}`;
  if (entry.upstream !== undefined) line += `,"upstream":${quote(entry.upstream)}`;
  if (entry.attempts !== undefined) line += `,"attempts":${number(entry.attempts)}`;
  if (entry.bytesIn !== undefined) line += `,"bytesIn":${number(entry.bytesIn)}`;
  if (entry.bytesOut !== undefined) line += `,"bytesOut":${number(entry.bytesOut)}`;
  if (entry.code !== undefined) line += `,"code":${quote(entry.code)}`;
  return line;
}

/** Printable ASCII but `"` and `\`: such a string is its own JSON body, nothing to escape. */
const PLAIN = /^[ !#-[\]-~]*$/;

function quote(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

function number(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/**
 * A duration in milliseconds, to the microsecond, from whole numbers: the general conversion of
 * a fraction to its shortest decimal showed in the access log's profile.
 */
function milliseconds(value: number): string {
  const micros = Math.round(value * 1000);
  if (!(micros >= 0 && micros <= Number.MAX_SAFE_INTEGER)) return number(value);
  const whole = Math.trunc(micros / 1000);
  const fraction = micros - whole * 1000;
  if (fraction === 0) return `${whole}`;
  const digits = fraction % 100 === 0 ? `${fraction / 100}` : fraction % 10 === 0 ? `${fraction / 10}`.padStart(2, '0') : `${fraction}`.padStart(3, '0');
  return `${whole}.${digits}`;
}
