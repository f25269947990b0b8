// Standalone mode's status writer is its log: what `validate` would say — each manifest problem,
// each condition that is not well (not True; for Degraded, not False) — is logged when it
// appears, and once more when it is gone, never again at every reload while it stays as it was.
import type { ManifestProblem } from '../model/snapshot.ts';
import { conditionHealthy, describeObject, type ObjectStatus, type StatusCondition } from '../model/status.ts';
import type { Logger } from '../observability/logger.ts';

export interface ProblemReporter {
  /** The problems and statuses of one load: new ones are logged, gone ones said to be. */
  report(problems: readonly ManifestProblem[], statuses: readonly ObjectStatus[]): void;
}

interface ManifestIssue {
  readonly where: { readonly file: string; readonly kind: string | undefined; readonly name: string | undefined; readonly field: string };
  readonly line: number;
  readonly column: number | undefined;
  readonly message: string;
}

export function createProblemReporter(logger: Logger): ProblemReporter {
  /** Manifest issues by what they are and where, their line left out: lines above may come and go. */
  let issues = new Map<string, ManifestIssue>();
  /** Every condition of the last load, by object and type. */
  let conditions = new Map<string, { readonly object: string; readonly condition: StatusCondition }>();

  function reportIssues(problems: readonly ManifestProblem[]): void {
    const next = new Map<string, ManifestIssue>();
    for (const problem of problems) {
      for (const issue of problem.issues) {
        const where = { file: problem.file, kind: problem.kind, name: problem.name, field: issue.field };
        next.set(JSON.stringify([where, problem.namespace, issue.message]), { where, line: issue.line ?? problem.line, column: issue.column, message: issue.message });
      }
    }
    for (const [key, issue] of next) if (!issues.has(key)) logger.warn({ ...issue.where, line: issue.line, column: issue.column }, `manifest problem: ${issue.message}`);
    for (const [key, issue] of issues) if (!next.has(key)) logger.info(issue.where, `manifest problem resolved: ${issue.message}`);
    issues = next;
  }

  function reportConditions(statuses: readonly ObjectStatus[]): void {
    const next = new Map<string, { readonly object: string; readonly condition: StatusCondition }>();
    for (const status of statuses) {
      const object = describeObject(status);
      for (const condition of status.conditions) next.set(`${object}\n${condition.type}`, { object, condition });
    }
    const fields = (object: string, c: StatusCondition) => ({ object, condition: c.type, status: c.status, reason: c.reason });
    for (const [slot, { object, condition }] of next) {
      const before = conditions.get(slot)?.condition;
      const wasProblem = before !== undefined && !conditionHealthy(before);
      if (!conditionHealthy(condition)) {
        // New, or a different problem than the one last logged.
        if (!wasProblem || before.status !== condition.status || before.reason !== condition.reason || before.message !== condition.message) logger.warn(fields(object, condition), condition.message);
      } else if (wasProblem) {
        logger.info(fields(object, condition), condition.message);
      }
    }
    for (const [slot, { object, condition }] of conditions) {
      if (!conditionHealthy(condition) && !next.has(slot)) logger.info({ object, condition: condition.type }, 'No longer reported: the object is gone.');
    }
    conditions = next;
  }

  return {
    report(problems, statuses) {
      reportIssues(problems);
      reportConditions(statuses);
    },
  };
}
