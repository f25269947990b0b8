import { z } from 'zod';
import { API_VERSION, boundedRecord, DataKey, Duration, HeaderName, HttpUrl, ObjectMeta, ObjectName, SecretKeyReference, Status } from './common.ts';

export const PROVIDERS = ['Auto', 'Cognito', 'Generic'] as const;
export const TOKEN_USES = ['access', 'id', 'any'] as const;
export const UNAUTHENTICATED_ACTIONS = ['Redirect', 'Deny', 'Allow'] as const;
export const SAME_SITE = ['Lax', 'Strict', 'None'] as const;
export const SESSION_STORES = ['Cookie', 'Redis'] as const;

/** "/" then printable ASCII except "?" and "#" (the ranges skip 0x23 "#" and 0x3F "?"); no spaces. */
export const ABSOLUTE_PATH_PATTERN = '^/[!-"$->@-~]*$';
const AbsolutePath = z.string().min(1).max(1024).regex(new RegExp(ABSOLUTE_PATH_PATTERN), 'must be an absolute path without a query');
export const COOKIE_NAME_PATTERN = '^[A-Za-z0-9_-]+$';

export const Session = z
  .strictObject({
    secretRef: SecretKeyReference.optional(),
    cookieName: z.string().min(1).max(64).regex(new RegExp(COOKIE_NAME_PATTERN), 'must be letters, digits, "_" or "-"').optional(),
    cookieDomain: z.string().max(253).optional(),
    sameSite: z.enum(SAME_SITE).optional(),
    secure: z.boolean().optional(),
    idleTimeout: Duration.optional(),
    absoluteTimeout: Duration.optional(),
    store: z.enum(SESSION_STORES).optional(),
    redis: z
      .strictObject({
        address: z.string().min(1).max(1024),
        passwordSecretRef: SecretKeyReference.optional(),
        keyPrefix: z.string().max(64).optional(),
      })
      .optional(),
  })
  .refine((s) => s.store !== 'Redis' || s.redis !== undefined, { message: 'store Redis needs the address of a Redis server', path: ['redis'] });

export const Browser = z.strictObject({
  enabled: z.boolean().optional(),
  callbackPath: AbsolutePath.optional(),
  logoutPath: AbsolutePath.optional(),
  postLogoutRedirectURL: z.string().max(2048).optional(),
  authorizationParams: boundedRecord(z.string().min(1).max(128), z.string().max(1024), 32).optional(),
  refresh: z.boolean().optional(),
  session: Session.optional(),
});

export const Bearer = z.strictObject({
  enabled: z.boolean().optional(),
  tokenUse: z.enum(TOKEN_USES).optional(),
  allowedClientIDs: z.array(z.string().min(1).max(256)).max(64).optional(),
  audiences: z.array(z.string().min(1).max(1024)).max(64).optional(),
});

export const ClaimRule = z.strictObject({
  claim: z.string().min(1).max(256),
  values: z.array(z.string().max(1024)).min(1).max(64),
});

/** A rule's name: it shows in answers and access logs, so it stays short and plain. */
export const RULE_NAME_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
/** Longer expressions are refused: with at most 16 rules and no nested macros, this bounds a request's evaluation. */
export const MAX_RULE_LENGTH = 2048;

export const AuthorizationRule = z.strictObject({
  name: z.string().min(1).max(63).regex(new RegExp(RULE_NAME_PATTERN), 'must be letters, digits, "-", "_" or ".", starting and ending with a letter or digit'),
  cel: z.string().min(1).max(MAX_RULE_LENGTH),
  message: z.string().min(1).max(256).optional(),
});

export const OIDCPolicySpec = z
  .strictObject({
    className: z.string().max(253).optional(),
    issuer: HttpUrl,
    discoveryURL: HttpUrl.optional(),
    provider: z.enum(PROVIDERS).default('Auto'),
    caBundleRef: z
      .strictObject({ kind: z.enum(['Secret', 'ConfigMap']).default('Secret'), name: ObjectName, key: DataKey.default('ca.crt') })
      .optional(),
    clientID: z.string().min(1).max(256),
    clientSecretRef: SecretKeyReference.optional(),
    scopes: z.array(z.string().min(1).max(256)).max(32).optional(),
    browser: Browser.optional(),
    bearer: Bearer.optional(),
    unauthenticated: z.enum(UNAUTHENTICATED_ACTIONS).optional(),
    authorization: z
      .strictObject({
        requiredScopes: z.array(z.string().min(1).max(256)).max(32).optional(),
        groups: z.array(z.string().min(1).max(256)).max(64).optional(),
        claims: z.array(ClaimRule).max(16).optional(),
        rules: z
          .array(AuthorizationRule)
          .max(16)
          .refine((rules) => new Set(rules.map((rule) => rule.name)).size === rules.length, { message: 'rule names must be unique' })
          .optional(),
      })
      .optional(),
    forward: z
      .strictObject({
        headers: boundedRecord(HeaderName, z.string().min(1).max(256), 64).optional(),
        accessToken: z.boolean().optional(),
        idToken: z.boolean().optional(),
        defaultHeaders: z.boolean().optional(),
        assertion: z.boolean().optional(),
      })
      .optional(),
    cors: z.strictObject({ allowPreflight: z.boolean().optional() }).optional(),
    clockSkew: Duration.optional(),
  })
  .refine((s) => s.unauthenticated !== 'Redirect' || (s.browser !== undefined && s.browser.enabled !== false), {
    message: 'Redirect requires the browser flow (set spec.browser, and do not disable it)',
    path: ['unauthenticated'],
  });

/** The provider a policy resolved to (`provider: Auto` made concrete); later fields describe its fetches. */
export const RESOLVED_PROVIDERS = ['Cognito', 'Generic'] as const;
export const OIDCPolicyStatus = Status.extend({
  provider: z
    .strictObject({
      type: z.enum(RESOLVED_PROVIDERS),
      keys: z.number().int().min(0).optional(),
      lastFetchTime: z.iso.datetime({ offset: true }).optional(),
      lastError: z.string().max(32768).optional(),
      lastErrorTime: z.iso.datetime({ offset: true }).optional(),
    })
    .optional(),
});

export const OIDCPolicy = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('OIDCPolicy'),
  metadata: ObjectMeta,
  spec: OIDCPolicySpec,
  status: OIDCPolicyStatus.optional(),
});

export type OIDCPolicySpec = z.infer<typeof OIDCPolicySpec>;
export type OIDCPolicy = z.infer<typeof OIDCPolicy>;
