import type { z } from 'zod';
import { ConfigMap, EndpointSlice, Secret, Service } from './core.ts';
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
    const known = Object.keys(KINDS).join(', ');
    return { ok: false, kind, name, issues: [{ field: 'kind', message: `Unsupported kind ${JSON.stringify(kind ?? null)}; expected one of ${known}.`, path: ['kind'] }] };
  }
  const schema = KINDS[kind as Kind];
  const result = schema.safeParse(doc);
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
  return [{ field: fieldPath(issue.path), message: sentence(issue.message), path }];
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
