// `portcullis validate -f <file|dir>`: every object's conditions, and a non-zero exit when any is not True.
import { compile } from '../compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../compile/snapshot.ts';
import type { ObjectStatus } from '../model/status.ts';
import { loadManifestFiles } from '../sources/files.ts';
import type { ManifestProblem } from '../sources/manifests.ts';
import { toSnapshot } from '../sources/manifests.ts';

export interface ValidateReport {
  readonly ok: boolean;
  readonly text: string;
}

export async function validate(paths: readonly string[], mode: CompileOptions['mode']): Promise<ValidateReport> {
  const options: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, mode, generatedSessionKey: mode === 'standalone' ? 'validate-only-key-validate-only-key-0000' : null };
  const loaded = await loadManifestFiles(paths, options.defaultNamespace);
  const { statuses } = compile(toSnapshot(loaded.objects, loaded.problems, options.defaultNamespace), options);
  const failing = statuses.filter((s) => s.conditions.some((c) => c.status !== 'True')).length;
  const lines = [formatStatuses(statuses)];
  // Every manifest problem with its file and line (refused Routes and policies also have status rows above).
  if (loaded.problems.length > 0) lines.push('', 'Problems:', ...loaded.problems.map(formatProblem));
  const failures = failing + loaded.problems.length;
  lines.push('', failures === 0 ? `${loaded.files.length} file(s), ${statuses.length} object(s): every condition is True.` : `Not valid: ${failing} object(s) with a condition that is not True, ${loaded.problems.length} manifest problem(s).`);
  return { ok: failures === 0, text: lines.join('\n') };
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

function formatProblem(problem: ManifestProblem): string {
  const what = problem.kind ? `${problem.kind}${problem.name ? ` ${problem.namespace ?? 'default'}/${problem.name}` : ''}: ` : '';
  return problem.issues.map((issue) => `  ${problem.file}:${problem.line}: ${what}${issue.field}: ${issue.message}`).join('\n');
}
