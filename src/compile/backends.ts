// Route backends → Upstreams: url backends checked, Services resolved to their ready endpoints.
import { isIP } from 'node:net';
import type { Backend } from '../api/route.ts';
import type { Endpoint, Upstream } from '../model/table.ts';
import { finding, type Finding } from './conditions.ts';
import { isLoopbackHost } from './policies.ts';
import type { CompileOptions } from '../model/snapshot.ts';
import type { SnapshotIndex } from './snapshot-index.ts';

/** Resolves one backend; null when it cannot be used (a finding says why). */
export function resolveBackend(
  backend: Backend,
  field: string,
  namespace: string,
  index: SnapshotIndex,
  options: CompileOptions,
  findings: Finding[],
): Upstream | null {
  if (backend.url !== undefined) return resolveURL(backend, `${field}.url`, options, findings);
  const ref = backend.service!;
  const service = index.service(namespace, ref.name);
  if (service === undefined) {
    findings.push(finding('ResolvedRefs', 'BackendNotFound', `${field}.service`, `Service ${namespace}/${ref.name} does not exist.`));
    return null;
  }
  const port = service.spec?.ports?.find((p) => p.port === ref.port);
  if (port === undefined) {
    findings.push(finding('ResolvedRefs', 'BackendNotFound', `${field}.service.port`, `Service ${namespace}/${ref.name} has no port ${ref.port}.`));
    return null;
  }
  const https = port.appProtocol === 'https' || port.name === 'https';
  // The backend's appProtocol, else the Service port's: kubernetes.io/h2c is HTTP/2 with prior knowledge.
  const h2c = !https && (backend.appProtocol ?? port.appProtocol) === H2C;
  const endpoints: Endpoint[] = [];
  const seen = new Set<string>();
  for (const slice of index.endpointSlices(namespace, ref.name)) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    // The slice's port with the Service port's name; an unnamed Service port matches an unnamed slice port.
    const slicePort = slice.ports?.find((p) => (p.name ?? '') === (port.name ?? ''))?.port;
    if (slicePort === undefined || slicePort === null) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses) {
        const host = slice.addressType === 'IPv6' ? `[${address}]` : address;
        const origin = `${https ? 'https' : 'http'}://${host}:${slicePort}`;
        if (!seen.has(origin)) endpoints.push(h2c ? { origin, h2c } : { origin });
        seen.add(origin);
      }
    }
  }
  endpoints.sort((a, b) => (a.origin < b.origin ? -1 : 1));
  return { key: `service:${namespace}/${ref.name}:${ref.port}`, weight: backend.weight, endpoints };
}

function resolveURL(backend: Backend, field: string, options: CompileOptions, findings: Finding[]): Upstream | null {
  const raw = backend.url!;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    findings.push(finding('ResolvedRefs', 'InvalidBackend', field, `${JSON.stringify(raw)} is not a URL.`));
    return null;
  }
  if (options.mode === 'controller' && !options.allowLocalBackends && isLocalAddress(url.hostname)) {
    findings.push(finding('ResolvedRefs', 'InvalidBackend', field, `${url.hostname} is a loopback or link-local address, refused in controller mode.`));
    return null;
  }
  const allowed = options.allowedBackendHosts;
  if (allowed !== null && !allowed.includes(url.hostname)) {
    findings.push(finding('ResolvedRefs', 'InvalidBackend', field, `${url.hostname} is not among the allowed backend hosts.`));
    return null;
  }
  if (backend.appProtocol === H2C && url.protocol !== 'http:') {
    findings.push(finding('ResolvedRefs', 'InvalidBackend', field, `appProtocol ${H2C} is cleartext HTTP/2: it needs an http:// url (an https:// one negotiates HTTP/2 by ALPN).`));
    return null;
  }
  const endpoint = backend.appProtocol === H2C ? { origin: url.origin, h2c: true as const } : { origin: url.origin };
  return { key: `url:${url.origin}`, weight: backend.weight, endpoints: [endpoint] };
}

/** Kubernetes' appProtocol for cleartext HTTP/2 with prior knowledge. */
const H2C = 'kubernetes.io/h2c';

/** Loopback and link-local (cloud metadata at 169.254.169.254 among them). */
export function isLocalAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isLoopbackHost(host) || host === '0.0.0.0' || host === '::') return true;
  if (isIP(host) === 4) return host.startsWith('169.254.');
  if (isIP(host) === 6) return /^fe[89ab][0-9a-f]:/.test(host) || host.startsWith('::ffff:127.') || host.startsWith('::ffff:169.254.');
  return false;
}
