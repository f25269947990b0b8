// Two Routes in different namespaces that claim the same host and the same match: the older
// keeps it, and the other is Conflicted for that host. Within one namespace, precedence decides.
import type { CompiledRule } from '../model/table.ts';
import { finding, type Finding } from './conditions.ts';

export interface ConflictResult {
  readonly rules: CompiledRule[];
  /** Findings by route `namespace/name`. */
  readonly findings: Map<string, Finding[]>;
}

export function resolveConflicts(rules: readonly CompiledRule[]): ConflictResult {
  const claims = new Map<string, CompiledRule[]>();
  for (const rule of rules) {
    for (const host of hostKeys(rule)) {
      const key = `${host}\n${matchKey(rule)}`;
      claims.set(key, [...(claims.get(key) ?? []), rule]);
    }
  }

  const lost = new Map<CompiledRule, Set<string>>();
  const findings = new Map<string, Finding[]>();
  for (const [key, claimants] of claims) {
    if (new Set(claimants.map((r) => r.route.namespace)).size < 2) continue;
    const winner = claimants.reduce((a, b) => (olderFirst(a, b) <= 0 ? a : b));
    const host = key.slice(0, key.indexOf('\n'));
    for (const loser of claimants) {
      if (loser.route.namespace === winner.route.namespace) continue;
      lost.set(loser, (lost.get(loser) ?? new Set()).add(host));
      const routeKey = `${loser.route.namespace}/${loser.route.name}`;
      const where = host === '' ? 'any host' : `host ${host}`;
      const message = `The ${where} and ${describeMatch(loser)} are already served by Route ${winner.route.namespace}/${winner.route.name}, which is older.`;
      findings.set(routeKey, [...(findings.get(routeKey) ?? []), finding('Accepted', 'Conflicted', `spec.rules[${loser.ruleIndex}].matches[${loser.matchIndex}]`, message)]);
    }
  }

  const kept: CompiledRule[] = [];
  for (const rule of rules) {
    const lostHosts = lost.get(rule);
    if (lostHosts === undefined) kept.push(rule);
    else if (rule.hostnames.length > 0) {
      const hostnames = rule.hostnames.filter((h) => !lostHosts.has(h));
      if (hostnames.length > 0) kept.push({ ...rule, hostnames });
    }
  }
  return { rules: kept, findings };
}

function hostKeys(rule: CompiledRule): readonly string[] {
  return rule.hostnames.length === 0 ? [''] : rule.hostnames;
}

function matchKey(rule: CompiledRule): string {
  const values = (list: CompiledRule['headers']) => list.map((m) => `${m.name}=${m.type}:${m.value}`).join('&');
  return [rule.path.type, rule.path.value, rule.method ?? '*', values(rule.headers), values(rule.queryParams)].join('\n');
}

function describeMatch(rule: CompiledRule): string {
  return `path ${rule.path.type} ${rule.path.value}${rule.method ? ` (${rule.method})` : ''}`;
}

function olderFirst(a: CompiledRule, b: CompiledRule): number {
  const age = (a.route.createdAt ?? Infinity) - (b.route.createdAt ?? Infinity);
  if (age) return age;
  const ka = `${a.route.namespace}/${a.route.name}`;
  const kb = `${b.route.namespace}/${b.route.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
