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

export const SecretKeyReference = z.strictObject({
  name: ObjectName,
  key: z.string().min(1).max(253),
});

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
export const Condition = z.strictObject({
  type: z.string(),
  status: ConditionStatus,
  reason: z.string(),
  message: z.string(),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string().optional(),
});

export const Status = z.strictObject({ conditions: z.array(Condition).optional() });

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
