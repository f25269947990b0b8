// The request → rule lookup. Rules are indexed by host, then by path, when the table is
// built, so a lookup costs a few map reads whatever the number of routes.
import type { CompiledRule, Matcher, MatchRequest, ValueMatch } from '../model/table.ts';
import { comparePrecedence } from './precedence.ts';

interface PrefixNode {
  readonly children: Map<string, PrefixNode>;
  /** Rules whose prefix ends at this node, in precedence order. */
  rules: CompiledRule[];
}

/** The rules of one host (an exact name, a wildcard suffix, or any host). */
interface HostGroup {
  readonly exact: Map<string, CompiledRule[]>;
  readonly regex: CompiledRule[];
  readonly prefixRoot: PrefixNode;
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

  return {
    match(request: MatchRequest): CompiledRule | null {
      // Most specific host first; a host whose rules all miss falls through to less specific ones.
      const exact = exactHosts.get(request.host);
      if (exact !== undefined) {
        const found = matchGroup(exact, request);
        if (found !== null) return found;
      }
      if (wildcardHosts.size > 0) {
        for (let dot = request.host.indexOf('.'); dot !== -1; dot = request.host.indexOf('.', dot + 1)) {
          const group = wildcardHosts.get(request.host.slice(dot));
          if (group === undefined) continue;
          const found = matchGroup(group, request);
          if (found !== null) return found;
        }
      }
      return anyHost === null ? null : matchGroup(anyHost, request);
    },
  };
}

function newGroup(): HostGroup {
  return { exact: new Map(), regex: [], prefixRoot: { children: new Map(), rules: [] } };
}

function addRule(group: HostGroup, rule: CompiledRule): void {
  switch (rule.path.type) {
    case 'Exact': {
      const list = group.exact.get(rule.path.value);
      if (list === undefined) group.exact.set(rule.path.value, [rule]);
      else list.push(rule);
      break;
    }
    case 'RegularExpression':
      group.regex.push(rule);
      break;
    case 'PathPrefix': {
      let node = group.prefixRoot;
      for (const segment of prefixSegments(rule.path.value)) {
        let child = node.children.get(segment);
        if (child === undefined) node.children.set(segment, (child = { children: new Map(), rules: [] }));
        node = child;
      }
      node.rules.push(rule);
      break;
    }
  }
}

function sortGroup(group: HostGroup): void {
  for (const list of group.exact.values()) list.sort(comparePrecedence);
  group.regex.sort(comparePrecedence);
  const stack = [group.prefixRoot];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    node.rules.sort(comparePrecedence);
    stack.push(...node.children.values());
  }
}

/** `/api/v1/` → ["api", "v1"]; `/` → []. A prefix matches on segment boundaries only. */
function prefixSegments(prefix: string): string[] {
  return prefix.split('/').filter((segment) => segment !== '');
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
  return matchPrefix(group.prefixRoot, request);
}

/** Walks the path's segments down the trie, then tries the deepest (longest) prefix first. */
function matchPrefix(root: PrefixNode, request: MatchRequest): CompiledRule | null {
  const visited: PrefixNode[] = [root];
  const path = request.path;
  let node = root;
  let start = 1;
  while (start <= path.length) {
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const child = node.children.get(path.slice(start, end));
    if (child === undefined) break;
    visited.push(child);
    node = child;
    start = end + 1;
  }
  for (let i = visited.length - 1; i >= 0; i--) {
    const found = firstMatching(visited[i]!.rules, request);
    if (found !== null) return found;
  }
  return null;
}

function firstMatching(rules: readonly CompiledRule[], request: MatchRequest): CompiledRule | null {
  for (const rule of rules) if (matchesConditions(rule, request)) return rule;
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
