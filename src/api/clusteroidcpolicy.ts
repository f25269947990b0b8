// ClusterOIDCPolicy: an OIDCPolicy owned by the platform team, cluster-scoped. Its spec is
// OIDCPolicy's, with a namespace on every Secret (and ConfigMap) reference, plus which namespaces
// may refer to it (namespaceSelector), which it protects by default (defaultFor), and whether a
// rule there may still be public (allowPublicRoutes).
import { z } from 'zod';
import { API_VERSION, DataKey, ObjectMeta, ObjectName } from './common.ts';
import { Browser, OIDCPolicySpec, OIDCPolicyStatus, Session } from './oidcpolicy.ts';

export const LABEL_SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** A label key: an optional DNS-subdomain prefix and "/", then a name (as Kubernetes validates them). */
export const LABEL_KEY_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const LabelKey = z.string().min(1).max(317).regex(new RegExp(LABEL_KEY_PATTERN), 'must be a label key such as team or example.com/team');
/** A label value: empty, or up to 63 letters, digits, "-", "_" and "." starting and ending with a letter or digit. */
export const LABEL_VALUE_PATTERN = '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$';
const LabelValue = z.string().max(63).regex(new RegExp(LABEL_VALUE_PATTERN), 'must be a label value');

export const LabelSelectorRequirement = z
  .strictObject({
    key: LabelKey,
    operator: z.enum(LABEL_SELECTOR_OPERATORS),
    values: z.array(LabelValue).max(64).optional(),
  })
  .refine((r) => ((r.operator === 'In' || r.operator === 'NotIn') === ((r.values?.length ?? 0) > 0)), {
    message: 'In and NotIn need values; Exists and DoesNotExist take none',
    path: ['values'],
  });

/** Kubernetes' label selector: every matchLabels pair and every requirement must hold; `{}` selects every namespace. */
export const LabelSelector = z.strictObject({
  matchLabels: z
    .record(z.string(), LabelValue)
    .refine((r) => Object.keys(r).length <= 64, { message: 'must have at most 64 entries' })
    .meta({ maxProperties: 64 })
    .optional(),
  matchExpressions: z.array(LabelSelectorRequirement).max(16).optional(),
});

/** A key of a Secret in a named namespace: a cluster-scoped object has no namespace of its own. */
export const NamespacedSecretKeyReference = z.strictObject({ namespace: ObjectName, name: ObjectName, key: DataKey });

const ClusterSession = Session.safeExtend({
  secretRef: NamespacedSecretKeyReference.optional(),
  redis: z
    .strictObject({
      address: z.string().min(1).max(1024),
      passwordSecretRef: NamespacedSecretKeyReference.optional(),
      keyPrefix: z.string().max(64).optional(),
    })
    .optional(),
});

export const ClusterOIDCPolicySpec = OIDCPolicySpec.safeExtend({
  caBundleRef: z
    .strictObject({ kind: z.enum(['Secret', 'ConfigMap']).default('Secret'), namespace: ObjectName, name: ObjectName, key: DataKey.default('ca.crt') })
    .optional(),
  clientSecretRef: NamespacedSecretKeyReference.optional(),
  browser: Browser.safeExtend({ session: ClusterSession.optional() }).optional(),
  namespaceSelector: LabelSelector.optional(),
  defaultFor: LabelSelector.optional(),
  allowPublicRoutes: z.boolean().default(false),
});

export const NamespaceDefault = z.strictObject({
  name: ObjectName,
  default: z.boolean(),
  reason: z.enum(['Conflicted']).optional(),
  message: z.string().max(1024).optional(),
});

export const ClusterOIDCPolicyStatus = OIDCPolicyStatus.extend({
  /** Every namespace defaultFor selects, and whether this policy is the default there. */
  namespaces: z.array(NamespaceDefault).optional(),
  /** How many namespaces it is the default for (the NAMESPACES column). */
  defaultNamespaces: z.number().int().min(0).optional(),
});

export const ClusterOIDCPolicy = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('ClusterOIDCPolicy'),
  metadata: ObjectMeta,
  spec: ClusterOIDCPolicySpec,
  status: ClusterOIDCPolicyStatus.optional(),
});

export type LabelSelector = z.infer<typeof LabelSelector>;
export type ClusterOIDCPolicySpec = z.infer<typeof ClusterOIDCPolicySpec>;
export type ClusterOIDCPolicy = z.infer<typeof ClusterOIDCPolicy>;

