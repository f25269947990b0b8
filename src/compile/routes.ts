// Route → CompiledRules: one per match of each rule, with its policy and upstreams resolved.
// A rule that cannot forward safely still compiles, to a 503 answer: it never drops out and
// lets a less specific rule answer in its place (fail closed).
import { durationToMs } from '../api/common.ts';
import type { PolicyReference, Route, RouteMatch, RouteRule } from '../api/route.ts';
import { clusterPolicyKey, type AuthPolicy } from '../model/policy.ts';
import type { RulePolicyStatus } from '../model/status.ts';
import { compileFullMatch } from '../match/regex.ts';
import { normalizePath } from '../match/normalize.ts';
import type { AuthOnlyAction, CompiledRule, ForwardAction, RespondAction, RuleErrorCode, ServingCertificate, Upstream, ValueMatch } from '../model/table.ts';
import { resolveBackend } from './backends.ts';
import { finding, type Finding } from './conditions.ts';
import type { CompiledPolicies } from './policies.ts';
import type { CompileOptions } from '../model/snapshot.ts';
import type { SnapshotIndex } from './snapshot-index.ts';
import { resolveCertificate } from './tls.ts';

export interface CompiledRoute {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number | null;
  readonly createdAt: number | null;
  readonly hostnames: readonly string[];
  readonly certificate: ServingCertificate | null;
  readonly rules: CompiledRule[];
  /** Which policy protects each rule of the spec, and why (`status.rules`). */
  readonly rulePolicies: RulePolicyStatus[];
  readonly findings: Finding[];
}

export function compileRoute(route: Route, policies: CompiledPolicies, index: SnapshotIndex, options: CompileOptions): CompiledRoute {
  const namespace = index.namespaceOf(route.metadata);
  const findings: Finding[] = [];
  const createdAt = parseTime(route.metadata.creationTimestamp);
  const ref = { namespace, name: route.metadata.name, key: `${namespace}/${route.metadata.name}`, createdAt };
  const hostnames = [...new Set(route.spec.hostnames ?? [])].sort();

  if (route.spec.policyRef) lookupPolicy(route.spec.policyRef, 'spec.policyRef', namespace, policies, index, findings);
  const certificate = resolveCertificate(route, namespace, index, findings);
  const httpsRedirect = route.spec.tls?.redirectHTTP === true;

  const rules: CompiledRule[] = [];
  const rulePolicies: RulePolicyStatus[] = [];
  route.spec.rules.forEach((rule, ruleIndex) => {
    const field = `spec.rules[${ruleIndex}]`;
    const protection = resolveRulePolicy(route, rule, field, namespace, policies, index, findings);
    rulePolicies.push(protection.status);
    // A rule only forward-auth checks use: its matching and policy, no backend (the schema refuses any).
    const authOnly: AuthOnlyAction | null = (rule.mode ?? route.spec.mode) === 'AuthOnly' ? { kind: 'authOnly', policy: protection.policy } : null;
    const action = protection.refused ?? authOnly ?? compileAction(rule, field, protection.policy, namespace, index, options, findings);
    const matches: RouteMatch[] = rule.matches?.length ? rule.matches : [{}];
    matches.forEach((match, matchIndex) => {
      const id = `${ref.key}/rules[${ruleIndex}]/matches[${matchIndex}]`;
      const compiled = compileMatch(match, `${field}.matches[${matchIndex}]`, findings);
      if ('covering' in compiled) {
        // Security: fail closed. A match that does not compile still answers 503 on a path prefix
        // that covers whatever it could have matched, for any method and header, so that no less
        // specific rule (a public catch-all) answers those requests in its place.
        const closed = { path: compiled.covering, method: null, headers: [], queryParams: [] };
        rules.push({ id, route: ref, ruleIndex, matchIndex, hostnames, ...closed, httpsRedirect, action: respond('RULE_INVALID', 'This route is not valid.') });
        return;
      }
      let matchAction = action;
      if (rule.rewrite?.path?.type === 'ReplacePrefixMatch' && compiled.path.type !== 'PathPrefix') {
        findings.push(finding('Accepted', 'Invalid', `${field}.rewrite.path`, `ReplacePrefixMatch needs PathPrefix matches; matches[${matchIndex}] is ${compiled.path.type}.`));
        matchAction = { kind: 'respond', status: 503, code: 'RULE_INVALID', message: 'This route is not valid.' };
      }
      rules.push({ id, route: ref, ruleIndex, matchIndex, hostnames, ...compiled, httpsRedirect, action: matchAction });
    });
  });
  return { namespace, name: route.metadata.name, generation: route.metadata.generation ?? null, createdAt, hostnames, certificate, rules, rulePolicies, findings };
}

const respond = (code: RuleErrorCode, message: string): RespondAction => ({ kind: 'respond', status: 503, code, message });

interface RuleProtection {
  readonly status: RulePolicyStatus;
  /** The policy protecting the rule; null for a public one. */
  readonly policy: AuthPolicy | null;
  /** Set when the rule cannot be protected (or may not be public): it answers this, whatever its backends. */
  readonly refused: RespondAction | null;
}

/**
 * The policy of a rule, in this order: `public: true`; the rule's own policyRef; the Route's;
 * the ClusterOIDCPolicy defaulting the namespace; else none (public). Fail closed: a policy that
 * cannot be used, a reference that is not permitted, and a public rule where the namespace's
 * default allows none all answer 503 rather than serve the rule unprotected.
 */
function resolveRulePolicy(route: Route, rule: RouteRule, field: string, namespace: string, policies: CompiledPolicies, index: SnapshotIndex, findings: Finding[]): RuleProtection {
  const namespaceDefault = index.clusterPolicies.defaultOf(namespace);
  if (rule.public === true) {
    const status: RulePolicyStatus = { policy: 'public', source: 'Public' };
    if (namespaceDefault !== null && !namespaceDefault.allowPublicRoutes) {
      findings.push(finding('Accepted', 'PublicNotAllowed', `${field}.public`, `ClusterOIDCPolicy ${namespaceDefault.name} protects namespace ${namespace} and allows no public rules (spec.allowPublicRoutes).`));
      return { status, policy: null, refused: respond('PUBLIC_NOT_ALLOWED', 'This route may not be public.') };
    }
    return { status, policy: null, refused: null };
  }
  const policyRef = rule.policyRef ?? route.spec.policyRef;
  let lookup: PolicyLookup;
  let status: RulePolicyStatus;
  if (policyRef !== undefined) {
    status = { policy: policyKeyOf(policyRef, namespace), source: rule.policyRef ? 'Rule' : 'Route' };
    // The route-level reference was already checked once for the whole Route.
    lookup = lookupPolicy(policyRef, rule.policyRef ? `${field}.policyRef` : 'spec.policyRef', namespace, policies, index, rule.policyRef ? findings : []);
  } else if (namespaceDefault !== null) {
    status = { policy: namespaceDefault.key, source: 'NamespaceDefault' };
    lookup = lookupPolicy({ kind: 'ClusterOIDCPolicy', name: namespaceDefault.name }, field, namespace, policies, index, findings, ` (the default of namespace ${namespace})`);
  } else {
    return { status: { policy: 'public', source: 'None' }, policy: null, refused: null };
  }
  switch (lookup.kind) {
    case 'ok':
      return { status, policy: lookup.policy, refused: null };
    case 'missing':
      return { status, policy: null, refused: respond('POLICY_NOT_FOUND', 'The policy protecting this route does not exist.') };
    case 'broken':
      return { status, policy: null, refused: respond('POLICY_INVALID', 'The policy protecting this route is not valid.') };
    case 'notPermitted':
      return { status, policy: null, refused: respond('POLICY_NOT_PERMITTED', 'The policy this route names does not admit its namespace.') };
  }
}

function policyKeyOf(ref: PolicyReference, namespace: string): string {
  return ref.kind === 'ClusterOIDCPolicy' ? clusterPolicyKey(ref.name) : `${namespace}/${ref.name}`;
}

function compileAction(
  rule: RouteRule,
  field: string,
  policy: AuthPolicy | null,
  namespace: string,
  index: SnapshotIndex,
  options: CompileOptions,
  findings: Finding[],
): ForwardAction | RespondAction {
  const timeouts = { requestMs: msOrNull(rule.timeouts?.request), backendRequestMs: msOrNull(rule.timeouts?.backendRequest) };
  if (timeouts.requestMs !== null && timeouts.backendRequestMs !== null && timeouts.backendRequestMs > timeouts.requestMs) {
    findings.push(finding('Accepted', 'Invalid', `${field}.timeouts.backendRequest`, 'Must not be longer than timeouts.request.'));
    return respond('RULE_INVALID', 'This route is not valid.');
  }

  const backends = rule.backends ?? [];
  if (backends.length === 0) {
    findings.push(finding('Accepted', 'Invalid', `${field}.backends`, 'At least one backend is required.'));
    return respond('NO_BACKENDS', 'This route has no backend.');
  }
  const upstreams: Upstream[] = [];
  let unresolved = 0;
  backends.forEach((backend, i) => {
    const upstream = resolveBackend(backend, `${field}.backends[${i}]`, namespace, index, options, findings);
    if (upstream === null) unresolved++;
    else if (upstream.weight > 0) upstreams.push(upstream);
  });
  if (upstreams.length === 0) {
    return unresolved > 0
      ? respond('BACKEND_UNRESOLVED', 'No backend of this route could be resolved.')
      : respond('NO_BACKENDS', 'Every backend of this route has weight 0.');
  }
  const rewrite = rule.rewrite ? { path: rule.rewrite.path ?? null, hostname: rule.rewrite.hostname ?? null } : null;
  return { kind: 'forward', upstreams, policy, timeouts, rewrite };
}

type PolicyLookup = { kind: 'ok'; policy: AuthPolicy } | { kind: 'missing' } | { kind: 'broken' } | { kind: 'notPermitted' };

function lookupPolicy(ref: PolicyReference, field: string, namespace: string, policies: CompiledPolicies, index: SnapshotIndex, findings: Finding[], why = ''): PolicyLookup {
  const cluster = ref.kind === 'ClusterOIDCPolicy';
  const key = policyKeyOf(ref, namespace);
  // ClusterOIDCPolicy ${name}, OIDCPolicy ${namespace}/${name}.
  const named = cluster ? `ClusterOIDCPolicy ${ref.name}` : `OIDCPolicy ${key}`;
  // Security: permission before anything else, so a namespace learns nothing of a policy it may not use.
  if (cluster && index.clusterPolicies.permits(ref.name, namespace) === false) {
    findings.push(finding('ResolvedRefs', 'RefNotPermitted', field, `${named} does not admit namespace ${namespace} (its spec.namespaceSelector does not select it).`));
    return { kind: 'notPermitted' };
  }
  const policy = policies.ready.get(key);
  if (policy !== undefined) return { kind: 'ok', policy };
  const broken = policies.broken.get(key);
  if (broken !== undefined) {
    findings.push(finding('ResolvedRefs', 'PolicyNotAccepted', field, `${named}${why} is not valid (${broken.replace(/\.$/, '')}).`));
    return { kind: 'broken' };
  }
  findings.push(finding('ResolvedRefs', 'PolicyNotFound', field, `${named}${why} does not exist.`));
  return { kind: 'missing' };
}

type CompiledMatch = Pick<CompiledRule, 'path' | 'method' | 'headers' | 'queryParams'>;

/** The match, or, when any part of it does not compile, a path that covers what it could have matched. */
function compileMatch(match: RouteMatch, field: string, findings: Finding[]): CompiledMatch | { readonly covering: CompiledRule['path'] } {
  const type = match.path?.type ?? 'PathPrefix';
  const raw = match.path?.value ?? '/';
  let path: CompiledRule['path'];
  if (type === 'RegularExpression') {
    const compiled = compileFullMatch(raw);
    if (!compiled.ok) {
      findings.push(finding('Accepted', 'Invalid', `${field}.path.value`, compiled.message));
      return { covering: coveringPrefix(raw) };
    }
    path = { type, value: raw, pattern: compiled.pattern };
  } else {
    // Written paths are normalised exactly as request paths are, or they could never match.
    const normalized = normalizePath(raw);
    if (!normalized.ok) {
      findings.push(finding('Accepted', 'Invalid', `${field}.path.value`, normalized.message));
      return { covering: coveringPrefix(raw) };
    }
    path = prefixOrExact(type, normalized.path);
  }
  const headers = compileValueMatches(match.headers ?? [], `${field}.headers`, true, findings);
  const queryParams = compileValueMatches(match.queryParams ?? [], `${field}.queryParams`, false, findings);
  // Without its header or query condition, the path alone covers every request the match could take.
  if (headers === null || queryParams === null) return { covering: path };
  return { path, method: match.method ?? null, headers, queryParams };
}

function prefixOrExact(type: 'PathPrefix' | 'Exact', value: string): CompiledRule['path'] {
  return { type, value: type === 'PathPrefix' && value.length > 1 ? value.replace(/\/+$/, '') : value, pattern: null };
}

/**
 * A PathPrefix covering every path a path or pattern that did not compile could have matched:
 * its plain start (letters, digits, `/`, `_`, `~`, `-`), less a character a quantifier follows,
 * cut back to a `/`. A pattern with an alternative outside any group (or a `)` that closes none)
 * gets `/`: its other branch could start anywhere.
 */
function coveringPrefix(raw: string): CompiledRule['path'] {
  let plain = topLevelAlternative(raw) ? '' : (/^\^?([A-Za-z0-9/_~-]*)/.exec(raw)?.[1] ?? '');
  if (/^[?*+{]/.test(raw.slice(raw.indexOf(plain) + plain.length))) plain = plain.slice(0, -1);
  const normalized = normalizePath(plain.slice(0, plain.lastIndexOf('/') + 1) || '/');
  return prefixOrExact('PathPrefix', normalized.ok ? normalized.path : '/');
}

function compileValueMatches(
  matches: readonly { name: string; type: 'Exact' | 'RegularExpression'; value: string }[],
  field: string,
  lowerCaseNames: boolean,
  findings: Finding[],
): ValueMatch[] | null {
  const out: ValueMatch[] = [];
  for (const [i, m] of matches.entries()) {
    let pattern = null;
    if (m.type === 'RegularExpression') {
      const compiled = compileFullMatch(m.value);
      if (!compiled.ok) {
        findings.push(finding('Accepted', 'Invalid', `${field}[${i}].value`, compiled.message));
        return null;
      }
      pattern = compiled.pattern;
    }
    out.push({ name: lowerCaseNames ? m.name.toLowerCase() : m.name, type: m.type, value: m.value, pattern });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function msOrNull(duration: string | undefined): number | null {
  return duration === undefined ? null : durationToMs(duration);
}

function parseTime(value: string | Date | undefined): number | null {
  if (value === undefined) return null;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** Whether a `|` stands outside every group of `pattern`, or a `)` closes no group (escapes and character classes skipped). */
function topLevelAlternative(pattern: string): boolean {
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return true;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}
