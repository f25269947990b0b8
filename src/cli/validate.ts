// `portcullis validate -f <file|dir>`: every object's conditions, and a non-zero exit when any is not True.
import { createFetcher } from '../auth/fetcher.ts';
import { createProvider, type ProviderHealth } from '../auth/provider.ts';
import { compile } from '../compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions, type ManifestProblem } from '../model/snapshot.ts';
import { describePolicy, policyKeyOfStatus, type AuthPolicy } from '../model/policy.ts';
import { conditionHealthy, describeObject, type ObjectStatus, type RulePolicyStatus, type StatusCondition } from '../model/status.ts';
import { loadManifestFiles } from '../sources/files.ts';
import { toSnapshot } from '../sources/manifests.ts';
import { metaTime } from '../status/conditions.ts';
import { degradedCondition, readinessCondition } from '../status/runtime.ts';

export interface ValidateReport {
  readonly ok: boolean;
  readonly text: string;
}

export interface ValidateOptions {
  /** Also fetch each valid policy's discovery document and keys, as the proxy would: report `Ready`, and the provider's keys as `status.provider` has them. */
  readonly checkProviders?: boolean;
}

export async function validate(paths: readonly string[], mode: CompileOptions['mode'], options: ValidateOptions = {}): Promise<ValidateReport> {
  const compileOptions: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, mode, generatedSessionKey: mode === 'standalone' ? 'validate-only-key-validate-only-key-0000' : null };
  const loaded = await loadManifestFiles(paths, compileOptions.defaultNamespace);
  const compiled = compile(toSnapshot(loaded.objects, loaded.problems, compileOptions.defaultNamespace), compileOptions);
  const providers = options.checkProviders ? await checkProviders(compiled.table.policies) : null;
  const statuses = providers === null ? compiled.statuses : withProviderConditions(compiled.statuses, providers);
  const failing = statuses.filter((s) => !s.conditions.every(conditionHealthy)).length;
  const lines = [formatStatuses(statuses)];
  // Which policy protects each rule, and why (status.rules), and where ClusterOIDCPolicies default.
  const protection = formatProtection(statuses);
  if (protection !== null) lines.push('', protection);
  // What `kubectl get oidcpolicies` shows in KEYS and LAST FETCH, and status.provider's last error.
  if (providers !== null && providers.size > 0) lines.push('', formatProviders(providers));
  // Every manifest problem with its file and line (refused Routes and policies also have status rows above).
  if (loaded.problems.length > 0) lines.push('', 'Problems:', ...loaded.problems.map(formatProblem));
  const failures = failing + loaded.problems.length;
  lines.push('', failures === 0 ? `${loaded.files.length} file(s), ${statuses.length} object(s): every condition is True.` : `Not valid: ${failing} object(s) with a condition that is not True, ${loaded.problems.length} manifest problem(s).`);
  return { ok: failures === 0, text: lines.join('\n') };
}

interface ProviderCheck {
  readonly policy: AuthPolicy;
  readonly ready: StatusCondition;
  readonly health: ProviderHealth;
}

/** Each compiled policy's provider after one fetch of its discovery document and keys (at once, in parallel). */
async function checkProviders(policies: ReadonlyMap<string, AuthPolicy>): Promise<Map<string, ProviderCheck>> {
  const checks = new Map<string, ProviderCheck>();
  await Promise.all(
    [...policies].map(async ([key, policy]) => {
      const fetcher = createFetcher({ caBundle: policy.caBundle });
      const provider = createProvider({ issuer: policy.issuer, discoveryURL: policy.discoveryURL, fetchJSON: fetcher.fetchJSON, retryMs: 3_600_000 });
      try {
        await provider.refresh();
        checks.set(key, { policy, ready: readinessCondition(provider.readiness()), health: provider.health() });
      } finally {
        provider.close();
        await fetcher.close();
      }
    }),
  );
  return checks;
}

function withProviderConditions(statuses: readonly ObjectStatus[], checks: ReadonlyMap<string, ProviderCheck>): ObjectStatus[] {
  return statuses.map((status) => {
    const check = status.kind === 'OIDCPolicy' || status.kind === 'ClusterOIDCPolicy' ? checks.get(policyKeyOfStatus(status)) : undefined;
    return check === undefined ? status : { ...status, conditions: [...status.conditions, check.ready] };
  });
}

/**
 * One row per checked policy, as the controller shows it: status.provider's keys, last fetch and
 * last error, and Degraded (after a single fetch it cannot be True; `-` while no key is held).
 */
function formatProviders(checks: ReadonlyMap<string, ProviderCheck>): string {
  const rows = [['OBJECT', 'PROVIDER', 'KEYS', 'LAST FETCH', 'DEGRADED', 'LAST ERROR']];
  for (const [, { policy, health }] of [...checks].sort(([a], [b]) => a.localeCompare(b))) {
    const lastFetch = health.lastFetchTime === null ? '-' : metaTime(health.lastFetchTime);
    const degraded = degradedCondition(health)?.status ?? '-';
    const lastError = health.lastError === null ? '-' : `${metaTime(health.lastError.time)} ${health.lastError.message}`;
    rows.push([describePolicy(policy), policy.provider, String(health.keys), lastFetch, degraded, lastError]);
  }
  return formatTable(rows);
}

function formatStatuses(statuses: readonly ObjectStatus[]): string {
  if (statuses.length === 0) return 'No Route, OIDCPolicy or ClusterOIDCPolicy found.';
  const rows = [['OBJECT', 'CONDITION', 'STATUS', 'REASON', 'MESSAGE']];
  for (const status of statuses) {
    for (const c of status.conditions) rows.push([describeObject(status), c.type, c.status, c.reason, c.message]);
  }
  return formatTable(rows);
}

const WHY: Record<RulePolicyStatus['source'], (status: ObjectStatus) => string> = {
  Rule: () => "the rule's own policyRef",
  Route: () => "the Route's policyRef",
  NamespaceDefault: (route) => `default of namespace ${route.namespace}`,
  Public: () => 'public: true',
  None: () => 'no policy anywhere: public',
};

/** One row per Route rule: the policy protecting it and why; then each ClusterOIDCPolicy's namespaces. */
function formatProtection(statuses: readonly ObjectStatus[]): string | null {
  const rules = [['ROUTE', 'RULE', 'POLICY', 'WHY']];
  const namespaces = [['CLUSTER POLICY', 'NAMESPACE', 'DEFAULT', 'WHY NOT']];
  for (const status of statuses) {
    status.rules?.forEach((rule, i) => rules.push([describeObject(status), `spec.rules[${i}]`, rule.policy, WHY[rule.source](status)]));
    for (const namespace of status.namespaces ?? []) namespaces.push([describeObject(status), namespace.name, namespace.default ? 'yes' : 'no', namespace.message ?? '']);
  }
  const tables = [rules, namespaces].filter((rows) => rows.length > 1).map(formatTable);
  return tables.length === 0 ? null : tables.join('\n\n');
}

/** Columns padded to their widest cell; the last one free. */
function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.slice(0, -1).map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd()).join('\n');
}

/** `file:line:column: Kind namespace/name: field: message`, the place as editors and compilers write it. */
function formatProblem(problem: ManifestProblem): string {
  const what = problem.kind ? `${problem.kind}${problem.name ? ` ${problem.namespace ?? 'default'}/${problem.name}` : ''}: ` : '';
  return problem.issues
    .map((issue) => {
      const place = issue.line === undefined ? `${problem.line}` : `${issue.line}:${issue.column ?? 1}`;
      return `  ${problem.file}:${place}: ${what}${issue.field ? `${issue.field}: ` : ''}${issue.message}`;
    })
    .join('\n');
}
