// Standalone mode's source: manifests from files and folders, watched. Nothing half-written is
// served: a changed file is applied only once it has stopped changing (the settle time) and only
// whole (a file that fails to parse or validate keeps its last good objects serving, and is
// reported). A Route caught before its `policyRef` was written would be public; one file cut
// short would drop the Routes after the cut, and a less specific public rule would answer.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Manifest } from '../api/manifest.ts';
import type { ManifestProblem } from '../model/snapshot.ts';
import { createDebouncer } from '../time/debounce.ts';
import { delay, SYSTEM_TIMERS, unrefTimer, type TimerHandle, type Timers } from '../time/timers.ts';
import { listManifestFiles, mergeFiles, readFileContent } from './files.ts';
import { parseManifestText } from './manifests.ts';

export interface ManifestState {
  readonly objects: readonly Manifest[];
  /** Problems of the files as applied (their last good objects are in `objects`), and duplicates. */
  readonly problems: readonly ManifestProblem[];
  readonly files: readonly string[];
  /** The files whose part changed since the last state (a change settled, or the file went away); every file at first. */
  readonly changed: readonly string[];
}

export interface ManifestWatcher {
  /** Reads everything now, waiting for files still being written to settle; resolves with the first state. */
  load(): Promise<ManifestState>;
  close(): void;
}

export interface ManifestWatcherOptions {
  readonly paths: readonly string[];
  readonly defaultNamespace: string;
  /** Called after each reload that applied a change on disk. */
  readonly onChange: (state: ManifestState) => void;
  readonly onError: (error: Error) => void;
  /** Changes closer together than this are read once; default 50 ms. */
  readonly debounceMs?: number;
  /** Longest wait after the first change of a burst before the files are read; default 500 ms. */
  readonly maxDebounceMs?: number;
  /** How often the files are compared with what was last read, in case a watch event was missed; default 1 s. */
  readonly pollMs?: number;
  /**
   * A changed file is applied once its size, modification time and content have stayed the same
   * for this long; default DEFAULT_SETTLE_MS.
   */
  readonly settleMs?: number;
  readonly timers?: Timers;
}

/**
 * 300 ms: a program that writes a file in place (truncate, then write) does so in one burst of
 * writes microseconds to milliseconds apart, even flushing a buffered stream or pausing for an
 * fsync; 300 ms covers that with a wide margin on a loaded machine, and keeps a change served
 * within a second (50 ms of debounce, the settle time, a compile). A writer that pauses longer
 * between writes is caught half-way whatever the window: such tools should write by rename.
 */
export const DEFAULT_SETTLE_MS = 300;

/** One file's part in the table. */
interface FileState {
  /** The content last applied (its fingerprint) and the problems found in it; null until one settles. */
  applied: { readonly fingerprint: string; readonly problems: readonly ManifestProblem[] } | null;
  /** The objects of the last applied content that parsed and validated whole: what the file serves. */
  good: readonly Manifest[];
  /** Content seen but not applied yet, and since when it has been seen unchanged. */
  pending: { readonly fingerprint: string; readonly since: number } | null;
}

/** What one look at a file found. */
type Observation =
  | { readonly kind: 'content'; readonly fingerprint: string; readonly modifiedAt: number; readonly text: string }
  | { readonly kind: 'absent'; readonly fingerprint: string }
  | { readonly kind: 'unreadable'; readonly fingerprint: string; readonly message: string };

const ABSENT: Observation = { kind: 'absent', fingerprint: 'absent' };

/** The outcome of one read of every file. */
interface Reading {
  readonly state: ManifestState;
  /** When the next file still changing may have settled; null when none is. */
  readonly due: number | null;
}

export function watchManifests(options: ManifestWatcherOptions): ManifestWatcher {
  const timers = options.timers ?? SYSTEM_TIMERS;
  const pollMs = options.pollMs ?? 1000;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const files = new Map<string, FileState>();
  const watchers = new Map<string, FSWatcher>();
  const debouncer = createDebouncer({ holdoffMs: options.debounceMs ?? 50, maxHoldoffMs: options.maxDebounceMs ?? 500, timers, run: reload });
  let poller: TimerHandle | null = null;
  let settleTimer: TimerHandle | null = null;
  let lastSignature = '';
  let reloading: Promise<void> | null = null;
  let again = false;
  let closed = false;

  /**
   * Looks at every file and applies those that settled. `trustModifiedTime` (at start, when
   * nothing serves yet): a file nobody wrote to for the settle time, by its modification time,
   * has settled already. Later, a change settles only when seen unchanged for the settle time.
   */
  async function read(trustModifiedTime: boolean): Promise<Reading> {
    const listed = await listManifestFiles(options.paths);
    const changed: string[] = [];
    let due: number | null = null;
    // A file that went away is a change like any other: it settles before its objects go.
    for (const file of new Set([...files.keys(), ...listed])) {
      const seen = listed.includes(file) ? await observe(file) : ABSENT;
      const entry = files.get(file) ?? { applied: null, good: [], pending: null };
      if (seen.fingerprint === (entry.applied?.fingerprint ?? ABSENT.fingerprint)) {
        // As it was applied, or gone before anything of it was: nothing to do.
        if (entry.applied === null) files.delete(file);
        else entry.pending = null;
        continue;
      }
      const now = timers.now();
      if (entry.pending?.fingerprint !== seen.fingerprint) {
        const quiet = trustModifiedTime && (seen.kind !== 'content' || now - seen.modifiedAt >= settleMs);
        entry.pending = { fingerprint: seen.fingerprint, since: quiet ? -Infinity : now };
      }
      const settlesAt = entry.pending.since + settleMs;
      if (now < settlesAt) {
        // Security: still changing; the file keeps serving what it served.
        due = due === null ? settlesAt : Math.min(due, settlesAt);
        files.set(file, entry);
        continue;
      }
      changed.push(file);
      if (seen.kind === 'absent') {
        files.delete(file);
        continue;
      }
      files.set(file, settle(entry, seen, file));
    }
    const sorted = [...files.keys()].sort();
    const merged = mergeFiles(new Map(sorted.map((file) => [file, files.get(file)!.good])), options.defaultNamespace);
    const problems = sorted.flatMap((file) => files.get(file)!.applied?.problems ?? []);
    return { state: { objects: merged.objects, problems: [...problems, ...merged.problems], files: listed, changed: changed.sort() }, due };
  }

  /** Applies settled content: all or nothing, since a half-valid file would serve a mix of old and new objects. */
  function settle(entry: FileState, seen: Exclude<Observation, { kind: 'absent' }>, file: string): FileState {
    if (seen.kind === 'unreadable') {
      // Unreadable (permissions, a folder in its place): keep what it had, and say why.
      const problem: ManifestProblem = { file, line: 1, kind: undefined, name: undefined, namespace: undefined, issues: [{ field: 'file', message: seen.message }] };
      return { applied: { fingerprint: seen.fingerprint, problems: [problem] }, good: entry.good, pending: null };
    }
    const loaded = parseManifestText(seen.text, file);
    return { applied: { fingerprint: seen.fingerprint, problems: loaded.problems }, good: loaded.problems.length === 0 ? loaded.objects : entry.good, pending: null };
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
    // The signature before the read: a change after it shows at the next poll, even unread.
    reloading = signature()
      .then(async (current) => {
        const [reading] = await Promise.all([read(false), watchFolders()]);
        lastSignature = current;
        armSettleTimer(reading.due);
        if (reading.state.changed.length > 0) options.onChange(reading.state);
      })
      .catch(options.onError)
      .finally(() => {
        reloading = null;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  /** Reads again when the next changing file may have settled. */
  function armSettleTimer(due: number | null): void {
    if (settleTimer !== null) timers.clearTimeout(settleTimer);
    settleTimer = null;
    if (due === null || closed) return;
    settleTimer = timers.setTimeout(() => {
      settleTimer = null;
      reload();
    }, Math.max(0, due - timers.now()));
    unrefTimer(settleTimer);
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
      if (watchers.has(folder) || closed) continue;
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
      for (;;) {
        const current = await signature();
        const reading = await read(true);
        if (reading.due === null || closed) {
          // Watching starts after the first table is read: events until then are the poll's
          // (it compares with the signature taken before that read).
          lastSignature = current;
          await watchFolders();
          poll();
          return reading.state;
        }
        // Security: a file still being written at start is waited for, not left out: without
        // it, a less specific public rule could answer for its Routes.
        await delay(timers, reading.due - timers.now());
      }
    },
    close() {
      closed = true;
      debouncer.cancel();
      if (poller !== null) timers.clearTimeout(poller);
      if (settleTimer !== null) timers.clearTimeout(settleTimer);
      for (const watcher of watchers.values()) watcher.close();
    },
  };
}

/** Reads one file: its content, or that it is gone, or why it cannot be read. */
async function observe(file: string): Promise<Observation> {
  try {
    return { kind: 'content', ...(await readFileContent(file)) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ABSENT;
    const message = (error as Error).message;
    return { kind: 'unreadable', fingerprint: `unreadable:${message}`, message };
  }
}
