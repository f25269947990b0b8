// A Route's Programmed condition: True only when every rule serves as written. A rule that
// answers 503 by itself (fail closed), a match left out of the table, or a certificate the HTTPS
// listener cannot use makes it False, naming the field that causes it and what clients get
// instead — so that `kubectl get routes` never shows all True for a Route that cannot serve.
import type { Route } from '../api/route.ts';
import type { ConditionReason } from '../model/status.ts';
import type { CompiledRule, RuleErrorCode } from '../model/table.ts';
import { finding, type Finding } from './conditions.ts';

/** Where, under `spec.rules[i]`, compileRoute() records why a rule answers each code. */
const CAUSE_FIELDS: Record<RuleErrorCode, readonly string[]> = {
  POLICY_NOT_FOUND: ['.policyRef'],
  POLICY_INVALID: ['.policyRef'],
  BACKEND_UNRESOLVED: ['.backends'],
  NO_BACKENDS: ['.backends'],
  RULE_INVALID: ['.timeouts', '.rewrite', '.matches'],
  POLICY_NOT_PERMITTED: ['.policyRef'],
  PUBLIC_NOT_ALLOWED: ['.public'],
};

/** For an answer no finding explains: every backend weighs 0, which is valid but serves nothing. */
const UNEXPLAINED: { readonly reason: ConditionReason; readonly suffix: string; readonly message: string } = {
  reason: 'NoBackends',
  suffix: '.backends',
  message: 'Every backend has weight 0.',
};

/**
 * The Programmed findings of one Route, from its compiled rules (before cross-namespace
 * conflicts, which Accepted reports) and the findings compileRoute() made.
 */
export function programmedFindings(route: Route, rules: readonly CompiledRule[], findings: readonly Finding[]): Finding[] {
  const causes = findings.filter((f) => f.condition !== 'Programmed');
  const out: Finding[] = [];
  route.spec.rules.forEach((rule, ruleIndex) => {
    const site = `spec.rules[${ruleIndex}]`;
    const matchCount = rule.matches?.length ? rule.matches.length : 1;
    const compiled = rules.filter((r) => r.ruleIndex === ruleIndex);
    const codes = compiled.map((r) => (r.action.kind === 'respond' ? r.action.code : null));
    // The usual case: one answer for the whole rule (its policy or backends), said once.
    const ruleCode = compiled.length === matchCount && codes[0] != null && codes.every((code) => code === codes[0]) ? codes[0] : null;
    if (ruleCode !== null) {
      out.push(answers(site, site, ruleCode, causes));
      return;
    }
    for (let matchIndex = 0; matchIndex < matchCount; matchIndex++) {
      const match = `${site}.matches[${matchIndex}]`;
      const served = compiled.find((r) => r.matchIndex === matchIndex);
      if (served === undefined) {
        const cause = causes.find((f) => within(f.field, match));
        out.push(finding('Programmed', cause?.reason ?? 'Invalid', cause?.field ?? match, `${cause ? `${cause.message} ` : ''}The routing table leaves out ${match}.`));
      } else if (served.action.kind === 'respond') {
        out.push(answers(site, match, served.action.code, causes));
      }
    }
  });
  const tls = causes.find((f) => within(f.field, 'spec.tls'));
  if (tls !== undefined) out.push(finding('Programmed', tls.reason, tls.field, `${tls.message} The HTTPS listener has no certificate for this Route's hostnames.`));
  return out;
}

/** `where` (a rule or one of its matches) answers 503 `code` by itself: why, and what clients get. */
function answers(rule: string, where: string, code: RuleErrorCode, causes: readonly Finding[]): Finding {
  const underRule = CAUSE_FIELDS[code].map((suffix) => rule + suffix);
  // A protected rule without a policyRef of its own uses the Route's, or its namespace's default (said of the rule itself).
  // A match of its own (one that does not compile) is its own cause; otherwise the rule's.
  const cause =
    (where === rule ? undefined : causes.find((f) => within(f.field, where))) ??
    causes.find((f) => underRule.some((prefix) => within(f.field, prefix)) || (code.startsWith('POLICY_') && (f.field === 'spec.policyRef' || f.field === rule)));
  const effect = `Requests to ${where} get 503 ${code}.`;
  if (cause !== undefined) return finding('Programmed', cause.reason, cause.field, `${cause.message} ${effect}`);
  return finding('Programmed', UNEXPLAINED.reason, rule + UNEXPLAINED.suffix, `${UNEXPLAINED.message} ${effect}`);
}

/** `field` is `prefix` or a field inside it (`spec.rules[1]` holds `spec.rules[1].backends`, not `spec.rules[10]`). */
function within(field: string, prefix: string): boolean {
  return field === prefix || field.startsWith(`${prefix}.`) || field.startsWith(`${prefix}[`);
}
