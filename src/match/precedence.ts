import type { CompiledRule, PathType } from '../model/table.ts';

const PATH_TYPE_RANK: Record<PathType, number> = { Exact: 0, RegularExpression: 1, PathPrefix: 2 };

/**
 * The order within one host (docs/reference.md, "Matching"): path type (Exact,
 * RegularExpression, PathPrefix), longer path first, a method before none, more header matches,
 * more query matches, the older Route, then namespace/name, then the rule's position. Negative
 * when `a` wins.
 */
export function comparePrecedence(a: CompiledRule, b: CompiledRule): number {
  return (
    PATH_TYPE_RANK[a.path.type] - PATH_TYPE_RANK[b.path.type] ||
    b.path.value.length - a.path.value.length ||
    Number(b.method !== null) - Number(a.method !== null) ||
    b.headers.length - a.headers.length ||
    b.queryParams.length - a.queryParams.length ||
    (a.route.createdAt ?? Infinity) - (b.route.createdAt ?? Infinity) ||
    compareText(a.route.namespace, b.route.namespace) ||
    compareText(a.route.name, b.route.name) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
