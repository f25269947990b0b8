// Which certificate an HTTPS connection gets: chosen per handshake from the table in force, so
// a rotated Secret serves without a restart.
import { createSecureContext, type SecureContext } from 'node:tls';
import { findByHost, indexHostnames, type HostIndex } from '../match/hosts.ts';
import type { RouteTable, ServingCertificate } from '../model/table.ts';
import type { SniLookup } from './server.ts';

/** Past this many, the cache of TLS contexts starts again (certificates that left the table go with it). */
const MAX_CONTEXTS = 1000;

/**
 * SNI → TLS context from the table in force, by the matcher's host walk: the exact hostname, then
 * wildcards from the longest suffix, then the certificate of a Route without hostnames. Contexts
 * are cached per certificate.
 */
export function sniLookup(table: () => RouteTable): SniLookup {
  const contexts = new Map<string, SecureContext>();
  // Indexed once per table, when the first handshake meets it.
  let indexed: { readonly table: RouteTable; readonly certificates: HostIndex<ServingCertificate> } | null = null;
  return (servername) => {
    const current = table();
    if (indexed?.table !== current) indexed = { table: current, certificates: indexHostnames(current.certificates) };
    const found = findByHost(indexed.certificates, servername.toLowerCase().replace(/\.$/, ''), (certificate: ServingCertificate) => certificate, null);
    if (found === null) return null;
    let context = contexts.get(found.fingerprint);
    if (context === undefined) {
      if (contexts.size > MAX_CONTEXTS) contexts.clear();
      context = createSecureContext({ cert: found.cert, key: found.key });
      contexts.set(found.fingerprint, context);
    }
    return context;
  };
}
