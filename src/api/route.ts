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

export const POLICY_KINDS = ['OIDCPolicy', 'ClusterOIDCPolicy'] as const;

/** The policy protecting a Route or rule: an OIDCPolicy of its namespace (the default kind) or a ClusterOIDCPolicy. */
export const PolicyReference = z.strictObject({ kind: z.enum(POLICY_KINDS).default('OIDCPolicy'), name: ObjectName });

/** Proxy: requests are forwarded to the backends. AuthOnly: the rule only answers forward-auth checks, and has no backends. */
export const ROUTE_MODES = ['Proxy', 'AuthOnly'] as const;

export const REWRITE_PATH_TYPES = ['ReplaceFullPath', 'ReplacePrefixMatch'] as const;

export const RouteRule = z
  .strictObject({
    name: z.string().max(63).optional(),
    matches: z.array(RouteMatch).max(16).optional(),
    backends: z.array(Backend).max(16).optional(),
    policyRef: PolicyReference.optional(),
    public: z.boolean().optional(),
    mode: z.enum(ROUTE_MODES).optional(),
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
  })
  .refine((r) => !(r.mode === 'AuthOnly' && r.backends !== undefined), {
    message: 'a rule of mode AuthOnly has no backends',
  });

export const RouteSpec = z.strictObject({
  className: z.string().max(253).optional(),
  hostnames: z.array(Hostname).max(16).optional(),
  policyRef: PolicyReference.optional(),
  tls: z.strictObject({ secretRef: LocalObjectReference, redirectHTTP: z.boolean().optional() }).optional(),
  mode: z.enum(ROUTE_MODES).optional(),
  rules: z.array(RouteRule).min(1).max(64),
}).refine((s) => s.mode !== 'AuthOnly' || s.rules.every((r) => r.backends === undefined || r.mode === 'Proxy'), {
  message: 'the rules of an AuthOnly Route have no backends (unless a rule sets mode Proxy)',
});

export const RULE_POLICY_SOURCES = ['Rule', 'Route', 'NamespaceDefault', 'Public', 'None'] as const;

/** Which policy protects each rule, and why: its own policyRef, the Route's, its namespace's default, or none. */
export const RouteStatus = Status.extend({
  rules: z
    .array(
      z.strictObject({
        /** `namespace/name` of an OIDCPolicy, `ClusterOIDCPolicy/name`, or `public`. */
        policy: z.string().min(1).max(512),
        source: z.enum(RULE_POLICY_SOURCES),
      }),
    )
    .max(64)
    .optional(),
});

export const Route = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Route'),
  metadata: ObjectMeta,
  spec: RouteSpec,
  status: RouteStatus.optional(),
});

export type PathMatch = z.infer<typeof PathMatch>;
export type RouteMatch = z.infer<typeof RouteMatch>;
export type Backend = z.infer<typeof Backend>;
export type RouteRule = z.infer<typeof RouteRule>;
export type RouteSpec = z.infer<typeof RouteSpec>;
export type Route = z.infer<typeof Route>;
export type PolicyReference = z.infer<typeof PolicyReference>;
export type RulePolicySource = (typeof RULE_POLICY_SOURCES)[number];
export type HttpMethod = (typeof HTTP_METHODS)[number];
