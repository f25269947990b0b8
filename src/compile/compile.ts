// compile(): manifests in, routing table and statuses out. Pure: no client, logger, clock or
// network. Everything else is a thin shell around it.
import { buildMatcher } from '../match/matcher.ts';
import { identityHeaderKey } from '../model/headers.ts';
import { comparePrecedence } from '../match/precedence.ts';
import { clusterPolicyKey, type AuthPolicy } from '../model/policy.ts';
import type { ObjectStatus } from '../model/status.ts';
import type { RouteTable, ServingCertificate } from '../model/table.ts';
import { condition, finding, objectStatus } from './conditions.ts';
import { resolveConflicts } from './conflicts.ts';
import { compileClusterPolicies, compilePolicies, FORBIDDEN_FORWARD_HEADERS, resolveProvider } from './policies.ts';
import { programmedFindings } from './programmed.ts';
import { compileRoute } from './routes.ts';
import type { CompileOptions, RejectedObject, Snapshot } from '../model/snapshot.ts';
import { indexSnapshot } from './snapshot-index.ts';

export interface CompileResult {
  readonly table: RouteTable;
  readonly statuses: readonly ObjectStatus[];
}

export function compile(snapshot: Snapshot, options: CompileOptions): CompileResult {
  const index = indexSnapshot(snapshot, options);

  // 1. Policies: defaults, Secrets, mode rules.
  const policySpecs = sortByName(snapshot.policies, index.namespaceOf);
  const policies = compilePolicies(policySpecs, index, options);
  // …and ClusterOIDCPolicies, into the same maps (keys `ClusterOIDCPolicy/name`), their statuses after.
  const clusterSpecs = [...snapshot.clusterPolicies].sort((a, b) => compareKeys([a.metadata.name], [b.metadata.name]));
  compileClusterPolicies(clusterSpecs, index, options, policies);
  // A refused ClusterOIDCPolicy is broken, not absent: the namespaces it defaults answer 503 (fail closed).
  for (const refused of snapshot.rejected) {
    if (refused.kind === 'ClusterOIDCPolicy') policies.broken.set(clusterPolicyKey(refused.name), 'The manifest is not valid (see its Accepted condition).');
  }

  // 2. Routes: one rule per match, each with its policy (its own, or its namespace's default) and
  // upstreams (or a 503 answer).
  const routeSpecs = sortByName(snapshot.routes, index.namespaceOf);
  const routes = routeSpecs.map((route) => compileRoute(route, policies, index, options));

  // 3. Cross-namespace claims of one host and match: the older Route keeps it.
  const conflicts = resolveConflicts(routes.flatMap((route) => route.rules));

  // 4. Precedence order, so the output is deterministic and the matcher's lists start sorted.
  const rules = [...conflicts.rules].sort(comparePrecedence);

  // 5. Statuses: policies (with the provider they resolve to), Routes (Programmed only when
  // every rule serves as written), and the objects whose manifests were refused.
  // compilePolicies() gives one status per policy, in the order it was given them.
  const specs = [...policySpecs, ...clusterSpecs];
  const statuses: ObjectStatus[] = policies.statuses.map((status, i) => ({ ...status, provider: { type: resolveProvider(specs[i]!.spec) } }));
  for (const [i, status] of statuses.entries()) {
    if (status.kind !== 'ClusterOIDCPolicy') continue;
    const namespaces = index.clusterPolicies.namespacesOf(status.name);
    statuses[i] = { ...status, namespaces, defaultNamespaces: namespaces.filter((n) => n.default).length };
  }
  const programmed = new Set(rules.map((rule) => `${rule.route.namespace}/${rule.route.name}`));
  routes.forEach((route, i) => {
    const key = `${route.namespace}/${route.name}`;
    const findings = [...route.findings, ...(conflicts.findings.get(key) ?? [])];
    const unserved = programmedFindings(routeSpecs[i]!, route.rules, route.findings);
    findings.push(...unserved);
    if (!programmed.has(key) && unserved.length === 0) findings.push(finding('Programmed', 'NoRules', 'spec.rules', 'No rule of this Route could be programmed.'));
    statuses.push({ ...objectStatus('Route', route.namespace, route.name, route.generation, ['Accepted', 'ResolvedRefs', 'Programmed'], findings), rules: route.rulePolicies });
  });
  for (const rejected of snapshot.rejected) statuses.push(rejectedStatus(rejected));
  statuses.sort((a, b) => compareKeys([a.kind, a.namespace, a.name], [b.kind, b.namespace, b.name]));

  // 6. The identity headers of every policy, broken ones included: clients never get to set them.
  // Headers no policy may claim (Authorization, Cookie, …) are refused there, never stripped here.
  const identityHeaders = new Set(
    [...snapshot.policies, ...snapshot.clusterPolicies]
      .flatMap((p) => Object.keys(p.spec.forward?.headers ?? {}).map(identityHeaderKey))
      .filter((name) => !FORBIDDEN_FORWARD_HEADERS.has(name)),
  );

  // 7. The browser flow's callback and logout paths, answered before matching, and its cookies,
  // never forwarded.
  const authEndpoints = new Map<string, AuthPolicy[]>();
  const proxyCookies = new Set<string>();
  for (const policy of policies.ready.values()) {
    if (policy.browser === null) continue;
    for (const path of [policy.browser.callbackPath, policy.browser.logoutPath]) authEndpoints.set(path, [...(authEndpoints.get(path) ?? []), policy]);
    proxyCookies.add(policy.browser.session.cookieName);
  }

  // 8. Certificates for the HTTPS listener, by hostname: the older Route's wins a shared name.
  const certificates = new Map<string, ServingCertificate>();
  const byAge = [...routes].sort((a, b) => (a.createdAt ?? Infinity) - (b.createdAt ?? Infinity) || 0);
  for (const route of byAge) {
    if (route.certificate === null) continue;
    for (const hostname of route.hostnames.length > 0 ? route.hostnames : ['*']) if (!certificates.has(hostname)) certificates.set(hostname, route.certificate);
  }

  return { table: { rules, policies: policies.ready, identityHeaders, authEndpoints, proxyCookies: [...proxyCookies].sort(), certificates, matcher: buildMatcher(rules) }, statuses };
}

/** A manifest its schema refused: not compiled, so its references were never looked at. */
function rejectedStatus(rejected: RejectedObject): ObjectStatus {
  const generation = rejected.generation;
  const base = generation === null ? {} : { observedGeneration: generation };
  const accepted = condition('Accepted', rejected.issues.map((issue) => finding('Accepted', 'Invalid', issue.field, issue.message)), generation);
  const notChecked = { status: 'Unknown', reason: 'Invalid', message: 'Not checked: the object is not valid.', ...base } as const;
  const conditions = [accepted, { type: 'ResolvedRefs', ...notChecked } as const];
  if (rejected.kind === 'Route') conditions.push({ type: 'Programmed', status: 'False', reason: 'Invalid', message: 'The Route is not valid.', ...base });
  return { kind: rejected.kind, namespace: rejected.namespace, name: rejected.name, generation, conditions };
}

function sortByName<T extends { metadata: { name: string; namespace?: string | undefined } }>(
  items: readonly T[],
  namespaceOf: (meta: { namespace?: string | undefined }) => string,
): T[] {
  return [...items].sort((a, b) => compareKeys([namespaceOf(a.metadata), a.metadata.name], [namespaceOf(b.metadata), b.metadata.name]));
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

