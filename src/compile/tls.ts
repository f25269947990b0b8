// Route.spec.tls → the certificate and key of a `kubernetes.io/tls` Secret, checked to belong together.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { Route } from '../api/route.ts';
import { secretValue } from '../api/core.ts';
import type { ServingCertificate } from '../model/table.ts';
import { finding, type Finding } from './conditions.ts';
import type { SnapshotIndex } from './snapshot-index.ts';

export function resolveCertificate(route: Route, namespace: string, index: SnapshotIndex, findings: Finding[]): ServingCertificate | null {
  const ref = route.spec.tls?.secretRef;
  if (ref === undefined) return null;
  const field = 'spec.tls.secretRef';
  const secret = index.secret(namespace, ref.name);
  if (secret === undefined) {
    findings.push(finding('ResolvedRefs', 'SecretNotFound', field, `Secret ${namespace}/${ref.name} does not exist.`));
    return null;
  }
  if (secret.type !== undefined && secret.type !== 'kubernetes.io/tls') {
    findings.push(finding('ResolvedRefs', 'InvalidCertificate', field, `Secret ${namespace}/${ref.name} is of type ${secret.type}, not kubernetes.io/tls.`));
    return null;
  }
  const cert = secretValue(secret, 'tls.crt');
  const key = secretValue(secret, 'tls.key');
  if (cert === undefined || key === undefined) {
    findings.push(finding('ResolvedRefs', 'InvalidCertificate', field, `Secret ${namespace}/${ref.name} needs both tls.crt and tls.key.`));
    return null;
  }
  try {
    if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
      findings.push(finding('ResolvedRefs', 'InvalidCertificate', field, `In Secret ${namespace}/${ref.name}, tls.key is not the key of the certificate in tls.crt.`));
      return null;
    }
  } catch {
    findings.push(finding('ResolvedRefs', 'InvalidCertificate', field, `Secret ${namespace}/${ref.name} does not hold a PEM certificate and key.`));
    return null;
  }
  return { secret: `${namespace}/${ref.name}`, cert, key, fingerprint: createHash('sha256').update(cert).update(key).digest('base64url').slice(0, 16) };
}
