// Manifests as text (files, folders) → validated objects, with every problem located.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { parseManifest, type Manifest } from '../api/manifest.ts';
import type { LocatedIssue, ManifestProblem, RejectedObject, Snapshot } from '../model/snapshot.ts';

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
    if (document.errors.length > 0) {
      const error = document.errors[0]!;
      const at = lineCounter.linePos(error.pos[0]);
      const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      problems.push({ file, line: at.line, kind: undefined, name: undefined, namespace: undefined, issues: [{ field: '', message: `YAML: ${sentence(message)}`, line: at.line, column: at.col }] });
      continue;
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    const result = parseManifest(value);
    if (result.ok) objects.push(result.object);
    else {
      const namespace = (value as { metadata?: { namespace?: unknown } }).metadata?.namespace;
      const issues = result.issues.map((issue): LocatedIssue => {
        const { line, col } = lineCounter.linePos(locate(document, issue.path ?? []));
        return { ...issue, line, column: col };
      });
      problems.push({ file, line: issues[0]?.line ?? lineCounter.linePos(document.range[0]).line, kind: result.kind, name: result.name, namespace: typeof namespace === 'string' ? namespace : undefined, issues });
    }
  }
  return { objects, problems };
}

function sentence(message: string): string {
  return /[.!?]$/.test(message) ? message : `${message}.`;
}

/**
 * The offset of what `path` (zod's path into the decoded document) names: a map entry by its
 * key, a list item by its start. Where the path leaves the document (a missing field), the
 * deepest entry that exists: the object that lacks the field.
 */
function locate(document: Document.Parsed, path: readonly (string | number)[]): number {
  let node: Node | null = document.contents;
  let offset = node?.range?.[0] ?? document.range[0];
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(document) ?? null;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      offset = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? offset;
      node = (pair.value as Node | null) ?? null;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (item === undefined) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

/** Groups validated objects by kind; refused Routes and policies are carried to compile() for their status. */
export function toSnapshot(objects: readonly Manifest[], problems: readonly ManifestProblem[], defaultNamespace: string): Snapshot {
  const pick = <K extends Manifest['kind']>(kind: K) => objects.filter((o): o is Extract<Manifest, { kind: K }> => o.kind === kind);
  const rejected: RejectedObject[] = problems
    .filter((p) => (p.kind === 'Route' || p.kind === 'OIDCPolicy' || p.kind === 'ClusterOIDCPolicy') && p.name !== undefined)
    .map((p) => ({
      kind: p.kind as RejectedObject['kind'],
      namespace: p.kind === 'ClusterOIDCPolicy' ? '' : (p.namespace ?? defaultNamespace),
      name: p.name!,
      generation: null,
      issues: p.issues,
    }));
  return {
    routes: pick('Route'),
    policies: pick('OIDCPolicy'),
    secrets: pick('Secret'),
    configMaps: pick('ConfigMap'),
    services: pick('Service'),
    endpointSlices: pick('EndpointSlice'),
    clusterPolicies: pick('ClusterOIDCPolicy'),
    namespaces: pick('Namespace'),
    rejected,
  };
}
