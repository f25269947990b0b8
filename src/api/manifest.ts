import type { z } from 'zod';
import { ClusterOIDCPolicy } from './clusteroidcpolicy.ts';
import { ConfigMap, EndpointSlice, Namespace, Secret, Service } from './core.ts';
import { OIDCPolicy } from './oidcpolicy.ts';
import { Route } from './route.ts';
import { closest, knownFields } from './suggest.ts';

export const KINDS = {
  Route,
  OIDCPolicy,
  Secret,
  ConfigMap,
  Service,
  EndpointSlice,
  ClusterOIDCPolicy,
  Namespace,
} as const;

export type Kind = keyof typeof KINDS;
export type Manifest = { [K in Kind]: z.infer<(typeof KINDS)[K]> }[Kind];

export interface FieldIssue {
  /** The field, as a dotted path such as `spec.rules[0].backends[1].url`; empty when the issue is no field's (a YAML syntax error). */
  field: string;
  message: string;
  /** Where the issue is in the document (the offending key itself for an unknown field), to find its line. */
  path?: readonly (string | number)[];
}

export type ParseResult = { ok: true; object: Manifest } | { ok: false; kind: string | undefined; name: string | undefined; issues: FieldIssue[] };

/** Validates one decoded manifest against the schema of its kind. */
export function parseManifest(doc: unknown): ParseResult {
  const kind = isRecord(doc) && typeof doc.kind === 'string' ? doc.kind : undefined;
  const metadata = isRecord(doc) && isRecord(doc.metadata) ? doc.metadata : undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : undefined;
  if (kind === undefined || !(kind in KINDS)) {
    const known = Object.keys(KINDS);
    const meant = kind === undefined ? null : closest(kind, known);
    const hint = meant === null ? '' : ` (did you mean "${meant}"?)`;
    return { ok: false, kind, name, issues: [{ field: 'kind', message: `Unsupported kind ${JSON.stringify(kind ?? null)}${hint}; expected one of ${known.join(', ')}.`, path: ['kind'] }] };
  }
  const schema = KINDS[kind as Kind];
  // The input is reported so that a near miss can be named; it never leaves this module.
  const result = schema.safeParse(doc, { reportInput: true });
  if (result.success) return { ok: true, object: result.data as Manifest };
  return { ok: false, kind, name, issues: result.error.issues.flatMap((issue) => fieldIssues(issue, schema)) };
}

/**
 * One issue per wrong field, named as the API server names it: an unknown field by its own
 * path (`spec.foo`, as kubectl's strict field validation says), with the known field it most
 * likely meant; a bad map key by the map.
 */
function fieldIssues(issue: z.core.$ZodIssue, schema: z.core.$ZodType): FieldIssue[] {
  const path = issue.path.map((part) => (typeof part === 'number' ? part : String(part)));
  if (issue.code === 'unrecognized_keys') {
    const known = knownFields(schema, issue.path);
    return issue.keys.map((key) => ({ field: fieldPath([...issue.path, key]), message: unknownField(key, known), path: [...path, key] }));
  }
  if (issue.code === 'invalid_key') {
    const key = issue.path.at(-1);
    const why = issue.issues[0]?.message ?? issue.message;
    return [{ field: fieldPath(issue.path.slice(0, -1)), message: sentence(`key ${JSON.stringify(String(key))}: ${why.charAt(0).toLowerCase()}${why.slice(1)}`), path }];
  }
  return [{ field: fieldPath(issue.path), message: explain(issue), path }];
}

/** zod's message, said the way a manifest's author needs it: what is missing, or what was nearly right. */
function explain(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `Required (${article(issue.expected)} ${issue.expected}).`;
  if (issue.code === 'invalid_type' && issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')) {
    return `Expected a string, got the ${typeof issue.input} ${String(issue.input)}: quote the value in YAML.`;
  }
  if (issue.code === 'invalid_value' && typeof issue.input === 'string' && issue.values.length > 1) {
    const meant = closest(issue.input, issue.values.map(String));
    if (meant !== null) return sentence(`${issue.message} (did you mean ${JSON.stringify(meant)}?)`);
  }
  return sentence(issue.message);
}

function article(noun: string): string {
  return /^[aeiou]/.test(noun) ? 'an' : 'a';
}

function unknownField(key: string, known: readonly string[]): string {
  const meant = closest(key, known);
  if (meant !== null) return `Unknown field (did you mean "${meant}"?).`;
  return known.length > 0 && known.length <= 16 ? `Unknown field (the fields here are ${[...known].sort().join(', ')}).` : 'Unknown field.';
}

export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out || '(root)';
}

function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return s.endsWith('.') ? s : `${s}.`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
