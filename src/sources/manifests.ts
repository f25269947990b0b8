// Manifests as text (files, folders) → validated objects, with every problem located.
import { parseAllDocuments, LineCounter } from 'yaml';
import { parseManifest, type FieldIssue, type Manifest } from '../api/manifest.ts';
import type { RejectedObject, Snapshot } from '../compile/snapshot.ts';

export interface ManifestProblem {
  readonly file: string;
  /** 1-based line of the document or of the YAML error. */
  readonly line: number;
  readonly kind: string | undefined;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly issues: readonly FieldIssue[];
}

export interface LoadedManifests {
  readonly objects: Manifest[];
  readonly problems: ManifestProblem[];
}

/** Parses a multi-document YAML text. A document that fails leaves the others untouched. */
export function parseManifestText(text: string, file: string): LoadedManifests {
  const lineCounter = new LineCounter();
  const objects: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  for (const document of parseAllDocuments(text, { lineCounter, uniqueKeys: true })) {
    const line = lineCounter.linePos(document.range[0]).line;
    if (document.errors.length > 0) {
      const error = document.errors[0]!;
      const at = lineCounter.linePos(error.pos[0]);
      const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      problems.push({ file, line: at.line, kind: undefined, name: undefined, namespace: undefined, issues: [{ field: `line ${at.line}, column ${at.col}`, message: `YAML: ${message}` }] });
      continue;
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    const result = parseManifest(value);
    if (result.ok) objects.push(result.object);
    else {
      const namespace = (value as { metadata?: { namespace?: unknown } }).metadata?.namespace;
      problems.push({ file, line, kind: result.kind, name: result.name, namespace: typeof namespace === 'string' ? namespace : undefined, issues: result.issues });
    }
  }
  return { objects, problems };
}

/** Groups validated objects by kind; refused Routes and policies are carried to compile() for their status. */
export function toSnapshot(objects: readonly Manifest[], problems: readonly ManifestProblem[], defaultNamespace: string): Snapshot {
  const pick = <K extends Manifest['kind']>(kind: K) => objects.filter((o): o is Extract<Manifest, { kind: K }> => o.kind === kind);
  const rejected: RejectedObject[] = problems
    .filter((p) => (p.kind === 'Route' || p.kind === 'OIDCPolicy') && p.name !== undefined)
    .map((p) => ({ kind: p.kind as 'Route' | 'OIDCPolicy', namespace: p.namespace ?? defaultNamespace, name: p.name!, generation: null, issues: p.issues }));
  return {
    routes: pick('Route'),
    policies: pick('OIDCPolicy'),
    secrets: pick('Secret'),
    configMaps: pick('ConfigMap'),
    services: pick('Service'),
    endpointSlices: pick('EndpointSlice'),
    rejected,
  };
}
