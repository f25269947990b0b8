// `portcullis validate -f <file|dir>`: every object's conditions, and a non-zero exit when any is not True.
import { createFetcher } from '../auth/fetcher.ts';
import { createProvider } from '../auth/provider.ts';
import { compile } from '../compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions, type ManifestProblem } from '../model/snapshot.ts';
import type { AuthPolicy } from '../model/policy.ts';
import type { ObjectStatus, StatusCondition } from '../model/status.ts';
import { loadManifestFiles } from '../sources/files.ts';
import { toSnapshot } from '../sources/manifests.ts';

export interface ValidateReport {
  readonly ok: boolean;
  readonly text: string;
}

export interface ValidateOptions {
  /** Also fetch each valid policy's discovery document and keys, as the proxy would, and report `Ready`. */
  readonly checkProviders?: boolean;
}

export async function validate(paths: readonly string[], mode: CompileOptions['mode'], options: ValidateOptions = {}): Promise<ValidateReport> {
  const compileOptions: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, mode, generatedSessionKey: mode === 'standalone' ? 'validate-only-key-validate-only-key-0000' : null };
  const loaded = await loadManifestFiles(paths, compileOptions.defaultNamespace);
  const compiled = compile(toSnapshot(loaded.objects, loaded.problems, compileOptions.defaultNamespace), compileOptions);
  const statuses = options.checkProviders ? await withReadiness(compiled.statuses, compiled.table.policies) : compiled.statuses;
  const failing = statuses.filter((s) => s.conditions.some((c) => c.status !== 'True')).length;
  const lines = [formatStatuses(statuses)];
  // Every manifest problem with its file and line (refused Routes and policies also have status rows above).
  if (loaded.problems.length > 0) lines.push('', 'Problems:', ...loaded.problems.map(formatProblem));
  const failures = failing + loaded.problems.length;
  lines.push('', failures === 0 ? `${loaded.files.length} file(s), ${statuses.length} object(s): every condition is True.` : `Not valid: ${failing} object(s) with a condition that is not True, ${loaded.problems.length} manifest problem(s).`);
  return { ok: failures === 0, text: lines.join('\n') };
}

/** Each compiled policy's `Ready` condition after one fetch of its discovery document and keys (at once, in parallel). */
async function withReadiness(statuses: readonly ObjectStatus[], policies: ReadonlyMap<string, AuthPolicy>): Promise<ObjectStatus[]> {
  const ready = new Map<string, StatusCondition>();
  await Promise.all(
    [...policies].map(async ([key, policy]) => {
      const fetcher = createFetcher({ caBundle: policy.caBundle });
      const provider = createProvider({ issuer: policy.issuer, discoveryURL: policy.discoveryURL, fetchJSON: fetcher.fetchJSON, retryMs: 3_600_000 });
      try {
        await provider.refresh();
        const state = provider.readiness();
        ready.set(key, { type: 'Ready', status: state.ready ? 'True' : 'False', reason: state.reason, message: state.message });
      } finally {
        provider.close();
        await fetcher.close();
      }
    }),
  );
  return statuses.map((status) => {
    const condition = status.kind === 'OIDCPolicy' ? ready.get(`${status.namespace}/${status.name}`) : undefined;
    return condition === undefined ? status : { ...status, conditions: [...status.conditions, condition] };
  });
}

function formatStatuses(statuses: readonly ObjectStatus[]): string {
  if (statuses.length === 0) return 'No Route or OIDCPolicy found.';
  const rows = [['OBJECT', 'CONDITION', 'STATUS', 'REASON', 'MESSAGE']];
  for (const status of statuses) {
    for (const c of status.conditions) rows.push([`${status.kind} ${status.namespace}/${status.name}`, c.type, c.status, c.reason, c.message]);
  }
  const widths = rows[0]!.slice(0, -1).map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell)).join('  ')).join('\n');
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
