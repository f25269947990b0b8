// The parts of Kubernetes' core kinds that Portcullis reads. Unknown fields pass through.
import { z } from 'zod';
import { ObjectMeta } from './common.ts';

export const Secret = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Secret'),
  metadata: ObjectMeta,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

export const ConfigMap = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ConfigMap'),
  metadata: ObjectMeta,
  data: z.record(z.string(), z.string()).optional(),
});

export const ServicePort = z.looseObject({
  name: z.string().optional(),
  port: z.number().int().min(1).max(65535),
  targetPort: z.union([z.number().int(), z.string()]).optional(),
  appProtocol: z.string().optional(),
  protocol: z.string().optional(),
});

export const Service = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: ObjectMeta,
  spec: z.looseObject({ ports: z.array(ServicePort).optional() }).optional(),
});

export const EndpointSlice = z.looseObject({
  apiVersion: z.literal('discovery.k8s.io/v1'),
  kind: z.literal('EndpointSlice'),
  metadata: ObjectMeta,
  addressType: z.string(),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string()),
        conditions: z.looseObject({ ready: z.boolean().nullish(), serving: z.boolean().nullish(), terminating: z.boolean().nullish() }).optional(),
      }),
    )
    .nullish(),
  ports: z
    .array(z.looseObject({ name: z.string().nullish(), port: z.number().int().nullish(), appProtocol: z.string().nullish(), protocol: z.string().nullish() }))
    .nullish(),
});

/** A Namespace: only its labels matter (ClusterOIDCPolicy's selectors). */
export const Namespace = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: ObjectMeta,
});

export type Secret = z.infer<typeof Secret>;
export type ConfigMap = z.infer<typeof ConfigMap>;
export type Service = z.infer<typeof Service>;
export type EndpointSlice = z.infer<typeof EndpointSlice>;
export type Namespace = z.infer<typeof Namespace>;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** A Secret's value for `key`, decoded, from `data` (base64) or `stringData`. */
export function secretValue(secret: Secret, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}
