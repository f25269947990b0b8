import type { z } from 'zod';
import { ConfigMap, EndpointSlice, Secret, Service } from './core.ts';
import { OIDCPolicy } from './oidcpolicy.ts';
import { Route } from './route.ts';

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
  /** The field, as a dotted path such as `spec.rules[0].backends[1].url`. */
  field: string;
  message: string;
}

export type ParseResult = { ok: true; object: Manifest } | { ok: false; kind: string | undefined; name: string | undefined; issues: FieldIssue[] };

/** Validates one decoded manifest against the schema of its kind. */
export function parseManifest(doc: unknown): ParseResult {
  const kind = isRecord(doc) && typeof doc.kind === 'string' ? doc.kind : undefined;
  const metadata = isRecord(doc) && isRecord(doc.metadata) ? doc.metadata : undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : undefined;
  if (kind === undefined || !(kind in KINDS)) {
    const known = Object.keys(KINDS).join(', ');
    return { ok: false, kind, name, issues: [{ field: 'kind', message: `Unsupported kind ${JSON.stringify(kind ?? null)}; expected one of ${known}.` }] };
  }
  const result = KINDS[kind as Kind].safeParse(doc);
  if (result.success) return { ok: true, object: result.data as Manifest };
  return { ok: false, kind, name, issues: result.error.issues.flatMap(fieldIssues) };
}

/**
 * One issue per wrong field, named as the API server names it: an unknown field by its own
 * path (`spec.foo`, as kubectl's strict field validation says), a bad map key by the map.
 */
function fieldIssues(issue: z.core.$ZodIssue): FieldIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: fieldPath([...issue.path, key]), message: 'Unknown field.' }));
  }
  if (issue.code === 'invalid_key') {
    const key = issue.path.at(-1);
    const why = issue.issues[0]?.message ?? issue.message;
    return [{ field: fieldPath(issue.path.slice(0, -1)), message: sentence(`key ${JSON.stringify(String(key))}: ${why.charAt(0).toLowerCase()}${why.slice(1)}`) }];
  }
  return [{ field: fieldPath(issue.path), message: sentence(issue.message) }];
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
