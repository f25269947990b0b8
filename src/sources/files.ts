// Reads manifests from files and folders (recursively: .yaml, .yml, .json).
import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../api/manifest.ts';
import type { ManifestProblem } from '../model/snapshot.ts';
import { parseManifestText, type LoadedManifests } from './manifests.ts';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Every manifest file under the given paths, sorted, so that loading is deterministic. */
export async function listManifestFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path);
    if (info.isFile()) files.push(path);
    else if (info.isDirectory()) {
      for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
        if (entry.isFile() && MANIFEST_FILE.test(entry.name) && !entry.name.startsWith('.')) files.push(join(entry.parentPath, entry.name));
      }
    }
  }
  return [...new Set(files)].sort();
}

export async function readManifestFile(file: string): Promise<LoadedManifests> {
  return parseManifestText(await readFile(file, 'utf8'), file);
}

/** A file's content as read once, and what identifies it. */
export interface FileContent {
  readonly text: string;
  /** Size, modification time and SHA-256 of the bytes: another fingerprint means other content, or a new write. */
  readonly fingerprint: string;
  /** The modification time, in milliseconds since the epoch. */
  readonly modifiedAt: number;
}

/**
 * Reads a file and describes it, from one open file (a rename over it in the meantime changes
 * nothing here). The size and time are taken after the bytes: a write that lands after the read
 * moves the modification time, so a time older than the read vouches for the bytes read.
 */
export async function readFileContent(file: string): Promise<FileContent> {
  const handle = await open(file, 'r');
  try {
    const bytes = await handle.readFile();
    const info = await handle.stat();
    const hash = createHash('sha256').update(bytes).digest('base64url');
    return { text: bytes.toString('utf8'), fingerprint: `${info.size}:${info.mtimeMs}:${hash}`, modifiedAt: info.mtimeMs };
  } finally {
    await handle.close();
  }
}

/** Joins the objects of several files; a second object of the same kind, namespace and name is a problem. */
export function mergeFiles(files: ReadonlyMap<string, readonly Manifest[]>, defaultNamespace: string): LoadedManifests {
  const objects: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, string>();
  for (const [file, fileObjects] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const object of fileObjects) {
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
  return { objects, problems };
}

/** Loads every manifest file under the paths, as `validate` reads them. */
export async function loadManifestFiles(paths: readonly string[], defaultNamespace: string): Promise<LoadedManifests & { files: string[] }> {
  const files = await listManifestFiles(paths);
  const perFile = new Map<string, Manifest[]>();
  const problems: ManifestProblem[] = [];
  for (const file of files) {
    const loaded = await readManifestFile(file);
    perFile.set(file, loaded.objects);
    problems.push(...loaded.problems);
  }
  const merged = mergeFiles(perFile, defaultNamespace);
  return { files, objects: merged.objects, problems: [...problems, ...merged.problems] };
}
