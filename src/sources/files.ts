// Reads manifests from files and folders (recursively: .yaml, .yml, .json).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../api/manifest.ts';
import { parseManifestText, type LoadedManifests, type ManifestProblem } from './manifests.ts';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Every manifest file under the given paths, sorted, so that loading is deterministic. */
export async function listManifestFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path);
    if (info.isFile()) files.push(path);
    else if (info.isDirectory()) {
      for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
        if (entry.isFile() && MANIFEST_FILE.test(entry.name)) files.push(join(entry.parentPath, entry.name));
      }
    }
  }
  return [...new Set(files)].sort();
}

/** Loads every manifest file; a second object of the same kind, namespace and name is a problem. */
export async function loadManifestFiles(paths: readonly string[], defaultNamespace: string): Promise<LoadedManifests & { files: string[] }> {
  const files = await listManifestFiles(paths);
  const objects: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const loaded = parseManifestText(await readFile(file, 'utf8'), file);
    problems.push(...loaded.problems);
    for (const object of loaded.objects) {
      const namespace = object.metadata.namespace ?? defaultNamespace;
      const key = `${object.kind} ${namespace}/${object.metadata.name}`;
      const first = seen.get(key);
      if (first !== undefined) {
        problems.push({ file, line: 1, kind: object.kind, name: object.metadata.name, namespace, issues: [{ field: 'metadata.name', message: `${key} is also defined in ${first}; the first definition is used.` }] });
        continue;
      }
      seen.set(key, file);
      objects.push(object);
    }
  }
  return { files, objects, problems };
}
