// Standalone mode's source: manifests from files and folders, watched. A file that fails to
// parse or validate keeps its last good objects serving, and is reported.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Manifest } from '../api/manifest.ts';
import { listManifestFiles, mergeFiles, readManifestFile } from './files.ts';
import type { ManifestProblem } from './manifests.ts';

export interface ManifestState {
  readonly objects: readonly Manifest[];
  /** Problems of this load: files that failed (their last good objects are in `objects`), duplicates. */
  readonly problems: readonly ManifestProblem[];
  readonly files: readonly string[];
}

export interface ManifestWatcher {
  /** Reads everything now; resolves with the first state. */
  load(): Promise<ManifestState>;
  close(): void;
}

export interface ManifestWatcherOptions {
  readonly paths: readonly string[];
  readonly defaultNamespace: string;
  /** Called after each reload that follows a change on disk. */
  readonly onChange: (state: ManifestState) => void;
  readonly onError: (error: Error) => void;
  /** Changes closer together than this are read once. */
  readonly debounceMs?: number;
}

export function watchManifests(options: ManifestWatcherOptions): ManifestWatcher {
  const lastGood = new Map<string, readonly Manifest[]>();
  const watchers: FSWatcher[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let reloading: Promise<void> | null = null;
  let again = false;
  let closed = false;

  async function read(): Promise<ManifestState> {
    const files = await listManifestFiles(options.paths);
    const problems: ManifestProblem[] = [];
    for (const file of [...lastGood.keys()]) if (!files.includes(file)) lastGood.delete(file);
    for (const file of files) {
      try {
        const loaded = await readManifestFile(file);
        // All or nothing per file: a half-valid file would serve a mix of old and new objects.
        if (loaded.problems.length === 0) lastGood.set(file, loaded.objects);
        problems.push(...loaded.problems);
      } catch (error) {
        // Deleted between listing and reading, or unreadable: keep what it had.
        problems.push({ file, line: 1, kind: undefined, name: undefined, namespace: undefined, issues: [{ field: 'file', message: (error as Error).message }] });
      }
    }
    const merged = mergeFiles(lastGood, options.defaultNamespace);
    return { objects: merged.objects, problems: [...problems, ...merged.problems], files };
  }

  function schedule(): void {
    if (closed) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (reloading !== null) {
        again = true;
        return;
      }
      reloading = read()
        .then(options.onChange, options.onError)
        .finally(() => {
          reloading = null;
          if (again) {
            again = false;
            schedule();
          }
        });
    }, options.debounceMs ?? 50);
  }

  return {
    async load() {
      for (const path of options.paths) {
        const absolute = resolve(path);
        const info = await stat(absolute);
        // A single file is watched through its folder: editors replace files rather than write them.
        const watched = info.isDirectory() ? watch(absolute, { recursive: true }) : watch(dirname(absolute));
        watched.on('change', (_event, name) => {
          if (info.isDirectory() || name === null || resolve(dirname(absolute), name.toString()) === absolute) schedule();
        });
        watched.on('error', options.onError);
        watchers.push(watched);
      }
      return read();
    },
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
