// How a forward-auth check describes the original request, per calling proxy. The convention is
// a listener's setting (--auth-listen host:port=convention), never guessed from a request: nginx
// passes the client's own headers into its auth subrequest, so a header nginx does not set (such
// as X-Forwarded-Uri) is the client's, and must not be read under nginx.
import { clientScheme } from './headers.ts';

export const CHECK_CONVENTIONS = ['nginx', 'traefik', 'envoy'] as const;
export type CheckConvention = (typeof CHECK_CONVENTIONS)[number];

/** The check as received: its method, target and headers (lower-case names, and as sent). */
export interface CheckRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawHeaders: readonly string[];
  /** The check's one Host header. */
  readonly host: string | undefined;
}

/** The original request, as the caller describes it. */
export interface DescribedRequest {
  readonly kind: 'described';
  readonly method: string;
  /** Origin form, or an absolute URL (nginx's X-Original-URL), which must then agree with `host`. */
  readonly target: string;
  readonly host: string | undefined;
  readonly scheme: 'http' | 'https';
}

/** No original request described (nginx only): the request is for the listener itself, e.g. the callback path routed here. */
export interface DirectRequest {
  readonly kind: 'direct';
}

export interface CheckInvalid {
  readonly kind: 'invalid';
  readonly message: string;
}

/** An Envoy path prefix: empty, or `/segment…` without a trailing slash. */
export const ENVOY_PREFIX_PATTERN = /^(?:\/[A-Za-z0-9\-._~!$&'()*+,=:@%]+)*$/;

/**
 * The original request of a check from a trusted peer, read as `convention` says:
 * - nginx: `X-Original-URL` (absolute) and/or `X-Original-URI`, `X-Original-Method`, the host from
 *   the URL, else `X-Forwarded-Host`, else `Host`; the scheme from `X-Forwarded-Proto`, else the URL's;
 * - traefik: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri` (Traefik sets every one itself);
 * - envoy: the check's own method, `Host` (`:authority`) and path after `envoyPrefix`.
 * Security: a header the convention reads must appear once, and two headers that both describe a
 * part of the request (X-Original-URL and X-Original-URI, X-Original-URL and X-Forwarded-Host)
 * must agree: a client can add any header that the calling proxy does not set itself.
 */
export function describeCheck(convention: CheckConvention, check: CheckRequest, envoyPrefix: string): DescribedRequest | DirectRequest | CheckInvalid {
  const scheme = (fallback: 'http' | 'https') => clientScheme(check.headers, { peer: undefined, trusted: true, scheme: fallback });
  switch (convention) {
    case 'nginx': {
      const read = readOnce(check.rawHeaders, ['x-original-url', 'x-original-uri', 'x-original-method', 'x-forwarded-host']);
      if (typeof read === 'string') return invalid(read);
      const [url, uri, method, forwardedHost] = read;
      if (url === undefined && uri === undefined) return { kind: 'direct' };
      if (method === undefined) return invalid('The check has no X-Original-Method header (nginx: proxy_set_header X-Original-Method $request_method).');
      if (url === undefined) return { kind: 'described', method, target: uri!, host: forwardedHost ?? check.host, scheme: scheme('http') };
      const absolute = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url);
      if (absolute === null) return invalid('X-Original-URL must be an absolute http(s) URL.');
      const pathAndQuery = absolute[3] === '' ? '/' : absolute[3]!;
      if (uri !== undefined && uri !== pathAndQuery) return invalid('X-Original-URL and X-Original-URI describe different requests.');
      // The URL's authority is the host; an X-Forwarded-Host beside it must agree (the normaliser checks).
      return { kind: 'described', method, target: url, host: forwardedHost ?? absolute[2], scheme: scheme(absolute[1]!.toLowerCase() as 'http' | 'https') };
    }
    case 'traefik': {
      const read = readOnce(check.rawHeaders, ['x-forwarded-method', 'x-forwarded-host', 'x-forwarded-uri']);
      if (typeof read === 'string') return invalid(read);
      const [method, host, uri] = read;
      if (method === undefined || host === undefined || uri === undefined) return invalid('The check lacks X-Forwarded-Method, X-Forwarded-Host or X-Forwarded-Uri (Traefik ForwardAuth sets all three).');
      return { kind: 'described', method, target: uri, host, scheme: scheme('http') };
    }
    case 'envoy': {
      if (!check.url.startsWith(`${envoyPrefix}/`)) return invalid(`The check's path does not start with the Envoy path prefix ${JSON.stringify(`${envoyPrefix}/`)}.`);
      return { kind: 'described', method: check.method, target: check.url.slice(envoyPrefix.length), host: check.host, scheme: scheme('http') };
    }
  }
}

function invalid(message: string): CheckInvalid {
  return { kind: 'invalid', message };
}

/** Each header of `names` (lower case), from the headers as sent; a message when one appears twice. */
function readOnce(rawHeaders: readonly string[], names: readonly string[]): (string | undefined)[] | string {
  const values: (string | undefined)[] = names.map(() => undefined);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const index = names.indexOf(rawHeaders[i]!.toLowerCase());
    if (index === -1) continue;
    if (values[index] !== undefined) return `The check has more than one ${names[index]} header.`;
    values[index] = rawHeaders[i + 1]!;
  }
  return values;
}
