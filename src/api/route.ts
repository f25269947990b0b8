import { z } from 'zod';
import { API_VERSION, Duration, HeaderName, Hostname, LocalObjectReference, ObjectMeta, ObjectName, Status } from './common.ts';

export const PATH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
export const VALUE_MATCH_TYPES = ['Exact', 'RegularExpression'] as const;

/** What a normalised Exact or PathPrefix value never contains: "//", a "." or ".." segment, an encoded "/", "#" or "?". */
export const UNNORMALISED_PATH_PATTERN = '//|/\\.\\.?(/|$)|%2[fF]|#|\\?';
const UNNORMALISED_PATH = new RegExp(UNNORMALISED_PATH_PATTERN);

export const PathMatch = z
  .strictObject({
    type: z.enum(PATH_TYPES).default('PathPrefix'),
    value: z.string().min(1).max(1024).default('/'),
  })
  .refine((p) => p.type === 'RegularExpression' || p.value.startsWith('/'), {
    message: 'must be an absolute path (start with "/") for Exact and PathPrefix',
    path: ['value'],
  })
  .refine((p) => p.type === 'RegularExpression' || !UNNORMALISED_PATH.test(p.value), {
    message: 'must be a normalised path without "//", "/./", "/../", "%2F", "#" or "?"',
    path: ['value'],
  });

const ValueMatch = z.strictObject({
  name: HeaderName,
  type: z.enum(VALUE_MATCH_TYPES).default('Exact'),
  value: z.string().max(4096),
});

export const RouteMatch = z.strictObject({
  path: PathMatch.optional(),
  method: z.enum(HTTP_METHODS).optional(),
  headers: z.array(ValueMatch).max(16).optional(),
  queryParams: z.array(ValueMatch).max(16).optional(),
});

/** http(s)://host[:port] and at most a "/": the URI authority's characters (RFC 3986), no path, query or fragment. */
export const BACKEND_URL_PATTERN = "^https?://[-A-Za-z0-9._~%!$&'()*+,;=:@\\[\\]]+/?$";

/**
 * How the proxy speaks to a backend (Kubernetes' Service port values): `kubernetes.io/h2c`
 * cleartext HTTP/2 with prior knowledge (gRPC); `http` and `kubernetes.io/ws` HTTP/1.1.
 */
export const BACKEND_APP_PROTOCOLS = ['http', 'kubernetes.io/h2c', 'kubernetes.io/ws'] as const;

export const Backend = z
  .strictObject({
    url: z.string().max(2048).regex(new RegExp(BACKEND_URL_PATTERN), 'must be http(s)://host[:port] without a path').optional(),
    service: z.strictObject({ name: ObjectName, port: z.number().int().min(1).max(65535) }).optional(),
    weight: z.number().int().min(0).max(1_000_000).default(1),
    appProtocol: z.enum(BACKEND_APP_PROTOCOLS).optional(),
  })
  .refine((b) => (b.url === undefined) !== (b.service === undefined), {
    message: 'exactly one of url or service must be set',
  });

export const REWRITE_PATH_TYPES = ['ReplaceFullPath', 'ReplacePrefixMatch'] as const;

export const RouteRule = z
  .strictObject({
    name: z.string().max(63).optional(),
    matches: z.array(RouteMatch).max(16).optional(),
    backends: z.array(Backend).max(16).optional(),
    policyRef: LocalObjectReference.optional(),
    public: z.boolean().optional(),
    timeouts: z.strictObject({ request: Duration.optional(), backendRequest: Duration.optional() }).optional(),
    rewrite: z
      .strictObject({
        path: z.strictObject({ type: z.enum(REWRITE_PATH_TYPES), value: z.string().min(1).max(1024).regex(/^\//, 'must be an absolute path (start with "/")') }).optional(),
        hostname: Hostname.optional(),
      })
      .optional(),
  })
  .refine((r) => !(r.public === true && r.policyRef !== undefined), {
    message: 'a rule cannot set both public and policyRef',
  });

export const RouteSpec = z.strictObject({
  className: z.string().max(253).optional(),
  hostnames: z.array(Hostname).max(16).optional(),
  policyRef: LocalObjectReference.optional(),
  tls: z.strictObject({ secretRef: LocalObjectReference, redirectHTTP: z.boolean().optional() }).optional(),
  rules: z.array(RouteRule).min(1).max(64),
});

export const Route = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Route'),
  metadata: ObjectMeta,
  spec: RouteSpec,
  status: Status.optional(),
});

export type PathMatch = z.infer<typeof PathMatch>;
export type RouteMatch = z.infer<typeof RouteMatch>;
export type Backend = z.infer<typeof Backend>;
export type RouteRule = z.infer<typeof RouteRule>;
export type RouteSpec = z.infer<typeof RouteSpec>;
export type Route = z.infer<typeof Route>;
export type HttpMethod = (typeof HTTP_METHODS)[number];
