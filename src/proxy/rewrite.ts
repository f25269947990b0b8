import type { CompiledRule, Rewrite } from '../model/table.ts';

/** Applies a rule's path rewrite to the normalised path that matched it. */
export function rewritePath(path: string, match: CompiledRule['path'], rewrite: NonNullable<Rewrite['path']>): string {
  if (rewrite.type === 'ReplaceFullPath') return rewrite.value;
  // ReplacePrefixMatch: the prefix matched on a segment boundary, so the rest is empty or starts with "/".
  const prefix = match.value === '/' ? '' : match.value;
  const rest = path.slice(prefix.length);
  const base = rewrite.value.endsWith('/') && rest.startsWith('/') ? rewrite.value.slice(0, -1) : rewrite.value;
  const joined = base + rest;
  return joined === '' ? '/' : joined;
}
