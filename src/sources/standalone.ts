// Standalone mode's source: manifests from files and folders, watched. A file that fails to
// parse or validate keeps its last good objects serving, and is reported.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Manifest } from '../api/manifest.ts';
import type { ManifestProblem } from '../model/snapshot.ts';
import { createDebouncer } from '../time/debounce.ts';
import { SYSTEM_TIMERS, unrefTimer, type TimerHandle, type Timers } from '../time/timers.ts';
import { listManifestFiles, mergeFiles, readManifestFile } from './files.ts';

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
  /** Changes closer together than this are read once; default 50 ms. */
  readonly debounceMs?: number;
  /** Longest wait after the first change of a burst, so a file rewritten non-stop is still read; default 500 ms. */
  readonly maxDebounceMs?: number;
  /** How often the files are compared with what was last read, in case a watch event was missed; default 1 s. */
  readonly pollMs?: number;
  readonly timers?: Timers;
}

export function watchManifests(options: ManifestWatcherOptions): ManifestWatcher {
  const timers = options.timers ?? SYSTEM_TIMERS;
  const pollMs = options.pollMs ?? 1000;
  const lastGood = new Map<string, readonly Manifest[]>();
  const watchers = new Map<string, FSWatcher>();
  const debouncer = createDebouncer({ holdoffMs: options.debounceMs ?? 50, maxHoldoffMs: options.maxDebounceMs ?? 500, timers, run: reload });
  let poller: TimerHandle | null = null;
  let lastSignature = '';
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
    if (!closed) debouncer.trigger();
  }

  /** One reload at a time: a change seen during a reload is read by another one after it. */
  function reload(): void {
    if (reloading !== null) {
      again = true;
      return;
    }
    reloading = Promise.all([read(), signature(), watchFolders()])
      .then(([state, current]) => {
        lastSignature = current;
        options.onChange(state);
      }, options.onError)
      .finally(() => {
        reloading = null;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  /** Compares the files with what was last read, every `pollMs`, until closed. */
  function poll(): void {
    poller = timers.setTimeout(() => {
      void signature().then((current) => {
        if (current !== lastSignature) schedule();
      });
      if (!closed) poll();
    }, pollMs);
    unrefTimer(poller);
  }

  /** Watches every folder (not recursively: Node's recursive watch on Linux loses files replaced by rename). */
  async function watchFolders(): Promise<void> {
    const folders = new Set<string>();
    for (const path of options.paths) {
      const absolute = resolve(path);
      const info = await stat(absolute).catch(() => null);
      if (info === null) continue;
      if (!info.isDirectory()) folders.add(dirname(absolute));
      else {
        folders.add(absolute);
        for (const entry of await readdir(absolute, { recursive: true, withFileTypes: true })) {
          if (entry.isDirectory()) folders.add(join(entry.parentPath, entry.name));
        }
      }
    }
    for (const [folder, watcher] of watchers) {
      if (!folders.has(folder)) {
        watcher.close();
        watchers.delete(folder);
      }
    }
    for (const folder of folders) {
      if (watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, () => schedule());
        watcher.on('error', () => {
          watcher.close();
          watchers.delete(folder);
        });
        watchers.set(folder, watcher);
      } catch {
        // The folder went away; the poll below still notices changes.
      }
    }
  }

  /** What the files look like on disk; a change here that no watch event reported still reloads. */
  async function signature(): Promise<string> {
    const files = await listManifestFiles(options.paths).catch(() => []);
    const parts = await Promise.all(files.map(async (file) => stat(file).then((info) => `${file}:${info.mtimeMs}:${info.size}`, () => file)));
    return parts.join('\n');
  }

  return {
    async load() {
      await watchFolders();
      lastSignature = await signature();
      poll();
      return read();
    },
    close() {
      closed = true;
      debouncer.cancel();
      if (poller !== null) timers.clearTimeout(poller);
      for (const watcher of watchers.values()) watcher.close();
    },
  };
}
