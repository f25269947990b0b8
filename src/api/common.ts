import { z } from 'zod';

export const GROUP = 'portcullis.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Gateway API's duration format: `500ms`, `30s`, `1h`, `1h30m`. */
export const DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
export const Duration = z.string().regex(new RegExp(DURATION_PATTERN), 'must be a duration such as 500ms, 30s or 1h');

/** RFC 1123 hostname, optionally with one leading wildcard label (`*.example.com`). */
export const HOSTNAME_PATTERN = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(HOSTNAME_PATTERN), 'must be a lower-case hostname, optionally prefixed with "*."');

/** An HTTP header name (RFC 7230 token). */
export const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$";
export const HeaderName = z.string().min(1).max(256).regex(new RegExp(HEADER_NAME_PATTERN), 'must be an HTTP header name');

/** A DNS-1123 subdomain, as Kubernetes requires of object names. */
export const OBJECT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const ObjectName = z.string().min(1).max(253).regex(new RegExp(OBJECT_NAME_PATTERN), 'must be a lower-case DNS name');

export const LocalObjectReference = z.strictObject({ name: ObjectName });

/** A key of a Secret's or ConfigMap's data, as Kubernetes allows them. */
export const DATA_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
export const DataKey = z.string().min(1).max(253).regex(new RegExp(DATA_KEY_PATTERN), 'must be a Secret or ConfigMap key (letters, digits, "-", "_" or ".")');

export const SecretKeyReference = z.strictObject({
  name: ObjectName,
  key: DataKey,
});

/** An http(s) URL of printable ASCII characters (no spaces), read the same by JavaScript and by the API server's RE2. */
export const HTTP_URL_PATTERN = '^https?://[!-~]+$';
export const HttpUrl = z.string().max(2048).regex(new RegExp(HTTP_URL_PATTERN), 'must be an http(s) URL');

/**
 * A string map with at most `max` entries. The bound is stated twice: as a check, and as
 * metadata so that the JSON Schema generated from this schema (which the CRD is tested
 * against) carries `maxProperties`.
 */
export function boundedRecord<K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V, max: number) {
  return z
    .record(key, value)
    .refine((r) => Object.keys(r).length <= max, { message: `must have at most ${max} entries` })
    .meta({ maxProperties: max });
}

export const ObjectMeta = z.looseObject({
  name: ObjectName,
  namespace: ObjectName.optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);
/** metav1.Condition's limits, so the API server and this schema refuse the same statuses. */
export const CONDITION_TYPE_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';
export const Condition = z.strictObject({
  type: z.string().min(1).max(316).regex(new RegExp(CONDITION_TYPE_PATTERN), 'must be a condition type such as Ready'),
  status: ConditionStatus,
  reason: z.string().min(1).max(1024).regex(new RegExp(CONDITION_REASON_PATTERN), 'must be a CamelCase reason'),
  message: z.string().max(32768),
  observedGeneration: z.number().int().min(0).optional(),
  lastTransitionTime: z.iso.datetime({ offset: true }).optional(),
});

export const Status = z.strictObject({
  conditions: z
    .array(Condition)
    .max(8)
    .refine((cs) => new Set(cs.map((c) => c.type)).size === cs.length, { message: 'must not list a condition type twice' })
    .optional(),
});

export type ObjectMeta = z.infer<typeof ObjectMeta>;
export type Condition = z.infer<typeof Condition>;
export type SecretKeyReference = z.infer<typeof SecretKeyReference>;

/** Parses a Gateway API duration into milliseconds. */
export function durationToMs(duration: string): number {
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
    const n = Number(amount);
    total += unit === 'h' ? n * 3_600_000 : unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n;
  }
  return total;
}
