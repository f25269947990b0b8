// A readable, secret-free rendering of a compile result, for golden files.
import type { CompileResult } from '../../src/compile/compile.ts';
import type { AuthPolicy, SessionSettings } from '../../src/model/policy.ts';
import { describeObject } from '../../src/model/status.ts';
import type { CompiledRule } from '../../src/model/table.ts';

export function describeTable(result: CompileResult): unknown {
  return {
    rules: result.table.rules.map(describeRule),
    identityHeaders: [...result.table.identityHeaders].sort(),
    authEndpoints: Object.fromEntries([...result.table.authEndpoints].map(([path, policies]) => [path, policies.map((p) => p.key)])),
    ...(result.table.proxyCookies.length > 0 ? { proxyCookies: result.table.proxyCookies } : {}),
    ...(result.table.certificates.size > 0 ? { certificates: Object.fromEntries([...result.table.certificates].map(([host, c]) => [host, c.secret])) } : {}),
    policies: Object.fromEntries([...result.table.policies].map(([key, policy]) => [key, describePolicy(policy)])),
    statuses: result.statuses.map((s) => ({
      object: describeObject(s),
      ...(s.provider ? { provider: s.provider.type } : {}),
      conditions: s.conditions.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`),
      // status.rules, in the cases with ClusterOIDCPolicies (elsewhere it repeats the spec).
      ...(s.rules && clusterCase(result) ? { rules: s.rules.map((r) => `${r.policy} (${r.source})`) } : {}),
      ...(s.namespaces ? { namespaces: s.namespaces.map((n) => `${n.name}: ${n.default ? 'default' : `${n.reason}: ${n.message}`}`), defaultNamespaces: s.defaultNamespaces } : {}),
    })),
  };
}

/** Whether the case has ClusterOIDCPolicies at all. */
function clusterCase(result: CompileResult): boolean {
  return result.statuses.some((s) => s.kind === 'ClusterOIDCPolicy');
}

function describeRule(rule: CompiledRule): unknown {
  const match = [
    `${rule.path.type} ${rule.path.value}`,
    rule.method,
    ...rule.headers.map((h) => `header ${h.name} ${h.type} ${h.value}`),
    ...rule.queryParams.map((q) => `query ${q.name} ${q.type} ${q.value}`),
  ].filter((part) => part !== null);
  const action = rule.action;
  return {
    id: rule.id,
    route: rule.route.key,
    hosts: rule.hostnames.length ? rule.hostnames.join(' ') : '*any*',
    ...(rule.httpsRedirect ? { httpsRedirect: true } : {}),
    match: match.join(', '),
    ...(action.kind === 'respond'
      ? { respond: `${action.status} ${action.code}` }
      : action.kind === 'authOnly'
        ? { policy: action.policy?.key ?? 'public', authOnly: true }
        : {
            policy: action.policy?.key ?? 'public',
            upstreams: action.upstreams.map((u) => `${u.key} weight=${u.weight} endpoints=[${u.endpoints.map((e) => (e.h2c ? `${e.origin} (h2c)` : e.origin)).join(' ')}]`),
            ...(action.timeouts.requestMs !== null || action.timeouts.backendRequestMs !== null ? { timeouts: action.timeouts } : {}),
            ...(action.rewrite ? { rewrite: action.rewrite } : {}),
          }),
  };
}

function describeStore(store: SessionSettings['store'], redact: (value: string | null) => string | null): unknown {
  if (store.kind === 'Redis') return { ...store, password: redact(store.password) };
  return { ...store, revocations: store.revocations && { ...store.revocations, password: redact(store.revocations.password) } };
}

function describePolicy(policy: AuthPolicy): unknown {
  const redact = (value: string | null) => (value === null ? null : '<redacted>');
  return {
    ...policy,
    fingerprint: undefined,
    clientSecret: redact(policy.clientSecret),
    caBundle: policy.caBundle === null ? null : '<pem>',
    // CEL rules as `name: expression` (their plans are functions); none: as before rules existed.
    authorization: {
      ...policy.authorization,
      rules: policy.authorization.rules?.length ? policy.authorization.rules.map((rule) => `${rule.name}: ${rule.cel}${rule.message === null ? '' : ` (${rule.message})`}`) : undefined,
    },
    browser: policy.browser && {
      ...policy.browser,
      session: {
        ...policy.browser.session,
        keys: policy.browser.session.keys.map(() => '<redacted>'),
        store: describeStore(policy.browser.session.store, redact),
      },
    },
  };
}
