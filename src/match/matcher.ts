// The request → rule lookup. Rules are indexed by host, then by path, when the table is
// built, so a lookup costs a few map reads whatever the number of routes.
import type { CompiledRule, Matcher, MatchRequest, ValueMatch } from '../model/table.ts';
import { findByHost, type HostIndex } from './hosts.ts';
import { comparePrecedence } from './precedence.ts';

/**
 * A rule as the index holds it. `conditional` is false for a rule with no method, header or
 * query condition, so that the common lookup never reads the rule itself: at 10,000 routes the
 * cost of a match is the memory it touches, not the work it does.
 */
interface Entry {
  readonly rule: CompiledRule;
  readonly conditional: boolean;
}

/** The rules of one host (an exact name, a wildcard suffix, or any host). */
interface HostGroup {
  readonly exact: Map<string, Entry[]>;
  readonly regex: CompiledRule[];
  /** By prefix without a trailing slash ("" for "/"): a lookup tries the path's own prefixes, longest first. */
  readonly prefixes: Map<string, Entry[]>;
}

export function buildMatcher(rules: readonly CompiledRule[]): Matcher {
  const exactHosts = new Map<string, HostGroup>();
  const wildcardHosts = new Map<string, HostGroup>(); // keyed by suffix: ".example.com"
  let anyHost: HostGroup | null = null;

  for (const rule of rules) {
    if (rule.hostnames.length === 0) {
      anyHost ??= newGroup();
      addRule(anyHost, rule);
    }
    for (const hostname of rule.hostnames) {
      const [map, key] = hostname.startsWith('*.') ? [wildcardHosts, hostname.slice(1)] : [exactHosts, hostname];
      let group = map.get(key);
      if (group === undefined) map.set(key, (group = newGroup()));
      addRule(group, rule);
    }
  }
  for (const group of [...exactHosts.values(), ...wildcardHosts.values(), ...(anyHost ? [anyHost] : [])]) sortGroup(group);
  const hosts: HostIndex<HostGroup> = { exact: exactHosts, wildcard: wildcardHosts, any: anyHost };

  return {
    // Most specific host first; a host whose rules all miss falls through to less specific ones.
    match: (request: MatchRequest): CompiledRule | null => findByHost(hosts, request.host, matchGroup, request),
  };
}

function newGroup(): HostGroup {
  return { exact: new Map(), regex: [], prefixes: new Map() };
}

function addRule(group: HostGroup, rule: CompiledRule): void {
  const entry: Entry = { rule, conditional: rule.method !== null || rule.headers.length > 0 || rule.queryParams.length > 0 };
  switch (rule.path.type) {
    case 'Exact': {
      const list = group.exact.get(rule.path.value);
      if (list === undefined) group.exact.set(rule.path.value, [entry]);
      else list.push(entry);
      break;
    }
    case 'RegularExpression':
      group.regex.push(rule);
      break;
    case 'PathPrefix': {
      const key = prefixKey(rule.path.value);
      const list = group.prefixes.get(key);
      if (list === undefined) group.prefixes.set(key, [entry]);
      else list.push(entry);
      break;
    }
  }
}

function sortGroup(group: HostGroup): void {
  const byPrecedence = (a: Entry, b: Entry) => comparePrecedence(a.rule, b.rule);
  for (const list of group.exact.values()) list.sort(byPrecedence);
  group.regex.sort(comparePrecedence);
  for (const list of group.prefixes.values()) list.sort(byPrecedence);
}

/** `/api/v1/` → `/api/v1`; `/` → ``. A prefix matches on segment boundaries only. */
function prefixKey(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

function matchGroup(group: HostGroup, request: MatchRequest): CompiledRule | null {
  const exact = group.exact.get(request.path);
  if (exact !== undefined) {
    const found = firstMatching(exact, request);
    if (found !== null) return found;
  }
  for (const rule of group.regex) {
    if (rule.path.pattern!.test(request.path) && matchesConditions(rule, request)) return rule;
  }
  if (group.prefixes.size === 0) return null;
  // The path's own prefixes on segment boundaries, longest first: /a/b/c, /a/b, /a, "".
  const path = request.path;
  for (let end = path.length; end >= 0; end = path.lastIndexOf('/', end - 1)) {
    const rules = group.prefixes.get(end === path.length ? trimSlash(path) : path.slice(0, end));
    if (rules !== undefined) {
      const found = firstMatching(rules, request);
      if (found !== null) return found;
    }
    if (end === 0) break;
  }
  return null;
}

function trimSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

function firstMatching(entries: readonly Entry[], request: MatchRequest): CompiledRule | null {
  for (const entry of entries) if (!entry.conditional || matchesConditions(entry.rule, request)) return entry.rule;
  return null;
}

function matchesConditions(rule: CompiledRule, request: MatchRequest): boolean {
  if (rule.method !== null && rule.method !== request.method) return false;
  for (const header of rule.headers) {
    if (!headerMatches(header, request.headers[header.name])) return false;
  }
  if (rule.queryParams.length > 0) {
    const query = new URLSearchParams(request.query);
    for (const param of rule.queryParams) {
      const value = query.get(param.name);
      if (value === null || !valueMatches(param, value)) return false;
    }
  }
  return true;
}

function headerMatches(match: ValueMatch, value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string') return valueMatches(match, value);
  return value.some((v) => valueMatches(match, v));
}

function valueMatches(match: ValueMatch, value: string): boolean {
  return match.pattern === null ? match.value === value : match.pattern.test(value);
}
