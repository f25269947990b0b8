// The one status writer. compile() says what every Route's and OIDCPolicy's conditions
// should be; this writes them through the status subresource —
// - only on the leader (every replica compiles the same table, one of them says so);
// - only when they differ from what the cache shows (a no-op write would wake every watcher);
// - as a merge patch carrying the resourceVersion the conditions were merged onto, so a
//   write based on a stale object fails with 409 Conflict instead of undoing someone else's;
//   a conflict is retried with back-off once the cache has caught up;
// - a few at a time, so a new leader with a thousand Routes does not flood the API server;
// - with an Event when a condition turns False (or True again).
import type { ObjectStatus, StatusKind } from '../model/status.ts';
import type { Logger } from '../observability/logger.ts';
import { describeFailure, type KubeClient } from '../kubernetes/client.ts';
import { objectPath, RESOURCES, type KubeObject } from '../kubernetes/resources.ts';
import { createBackoff, type Backoff } from '../time/backoff.ts';
import { SYSTEM_TIMERS, type TimerHandle, type Timers } from '../time/timers.ts';
import type { EventRecorder } from './events.ts';
import { mergeConditions, sameConditions, transition, type StoredCondition } from './conditions.ts';

export interface StatusWriterOptions {
  readonly client: KubeClient;
  /** The object as the informer cache holds it now. */
  readonly current: (kind: StatusKind, namespace: string, name: string) => KubeObject | undefined;
  readonly logger: Logger;
  readonly events?: EventRecorder;
  readonly timers?: Timers;
  /** Writes in flight at once; default 4. */
  readonly concurrency?: number;
  /** Retry delay after a conflict or a failure: default 200 ms doubling to 30 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
}

export interface StatusWriter {
  /** Every object's status as it should be now; objects left out are no longer ours to write. */
  publish(statuses: readonly ObjectStatus[]): void;
  /** One object's status changed (a policy became ready). */
  update(status: ObjectStatus): void;
  /** The cached object changed (a write landed, someone else wrote, it was deleted): compare again. */
  recheck(kind: StatusKind, namespace: string, name: string): void;
  /** Only the leader writes; becoming leader compares every object. */
  setLeader(leader: boolean): void;
  isLeader(): boolean;
  /** Resolves once nothing is queued, in flight or waiting to be retried (tests, benchmarks). */
  idle(): Promise<void>;
  /** Counters since start. */
  stats(): { readonly written: number; readonly skipped: number; readonly conflicts: number; readonly failures: number };
  close(): void;
}

interface LastWrite {
  /** The resourceVersions our writes have superseded: while the cache shows one of them, it lags behind `result`. */
  readonly superseded: ReadonlySet<string | undefined>;
  /** The object the API server answered our last write with. */
  readonly result: KubeObject;
}

const keyOf = (kind: StatusKind, namespace: string, name: string) => `${kind}\n${namespace}\n${name}`;

export function createStatusWriter(options: StatusWriterOptions): StatusWriter {
  const { client, logger } = options;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const concurrency = options.concurrency ?? 4;
  const backoffSettings = options.backoff ?? { baseMs: 200, maxMs: 30_000 };
  const desired = new Map<string, ObjectStatus>();
  const queue = new Set<string>();
  const inFlight = new Set<string>();
  const retries = new Map<string, TimerHandle>();
  /** Per object that failed to write: its back-off, until a write lands or is no longer needed. */
  const backoffs = new Map<string, Backoff>();
  /** Our last write per object, used until the watch delivers it (so the next write is not based on a stale cache). */
  const lastWrites = new Map<string, LastWrite>();
  const counters = { written: 0, skipped: 0, conflicts: 0, failures: 0 };
  let idleWaiters: (() => void)[] = [];
  let leader = false;
  let closed = false;

  /** New information (a new desired status, a fresher cached object) ends any wait for a retry. */
  function enqueue(key: string): void {
    if (closed || !desired.has(key)) return;
    cancelRetry(key);
    queue.add(key);
    pump();
  }

  function cancelRetry(key: string): void {
    const handle = retries.get(key);
    if (handle === undefined) return;
    timers.clearTimeout(handle);
    retries.delete(key);
  }

  function pump(): void {
    if (leader && !closed) {
      for (const key of queue) {
        if (inFlight.size >= concurrency) break;
        if (inFlight.has(key) || retries.has(key)) continue;
        queue.delete(key);
        inFlight.add(key);
        void write(key).finally(() => {
          inFlight.delete(key);
          pump();
        });
      }
    }
    if (queue.size === 0 && inFlight.size === 0 && retries.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function retryLater(key: string): void {
    let backoff = backoffs.get(key);
    if (backoff === undefined) backoffs.set(key, (backoff = createBackoff(backoffSettings)));
    const wait = backoff.next();
    retries.set(
      key,
      timers.setTimeout(() => {
        retries.delete(key);
        enqueue(key);
      }, wait),
    );
  }

  async function write(key: string): Promise<void> {
    const status = desired.get(key);
    if (status === undefined) return;
    const { kind, namespace, name } = status;
    let object = options.current(kind, namespace, name);
    if (object === undefined) return; // deleted, or not seen yet: the informer's add rechecks it
    const last = lastWrites.get(key);
    let basedOnOurs = false;
    if (last !== undefined) {
      basedOnOurs = last.superseded.has(object.metadata.resourceVersion);
      if (basedOnOurs) object = last.result;
      else lastWrites.delete(key); // the cache has our write, or someone else's since
    }
    // A status compiled from another generation waits for the rebuild that the newer spec triggers.
    const generation = object.metadata.generation ?? null;
    if (status.generation !== null && generation !== null && status.generation !== generation) return;
    const stored = (object.status ?? {}) as { conditions?: StoredCondition[]; provider?: Record<string, unknown> } & Record<string, unknown>;
    const current = stored.conditions ?? [];
    // A policy's status.provider is ours too; null (a refused spec) removes it.
    const provider = status.kind === 'OIDCPolicy' || status.kind === 'ClusterOIDCPolicy' ? providerPatch(status) : undefined;
    const sameProvider = provider === undefined || sameFields(stored.provider ?? null, provider);
    // A Route's status.rules, a ClusterOIDCPolicy's status.namespaces and defaultNamespaces: whole values, replaced.
    const lists = listsPatch(status);
    const sameLists = Object.entries(lists).every(([field, value]) => JSON.stringify(stored[field] ?? null) === JSON.stringify(value));
    if (sameConditions(current, status.conditions) && sameProvider && sameLists) {
      counters.skipped++;
      backoffs.delete(key);
      return;
    }
    const conditions = mergeConditions(current, status.conditions, timers.now());
    // A merge patch: fields of status.provider that others write are kept; ours that are gone are null.
    const patch = { metadata: { resourceVersion: object.metadata.resourceVersion }, status: { conditions, ...(provider === undefined ? {} : { provider }), ...lists } };
    const resource = RESOURCES[kind];
    let response;
    try {
      response = await client.request<KubeObject>('PATCH', objectPath(resource, namespace, name, 'status'), { body: patch, contentType: 'application/merge-patch+json' });
    } catch (error) {
      counters.failures++;
      logger.debug({ object: `${kind} ${namespace}/${name}`, err: (error as Error).message }, 'status write failed; will retry');
      retryLater(key);
      return;
    }
    if (response.status === 200) {
      counters.written++;
      backoffs.delete(key);
      const superseded = new Set(basedOnOurs ? last!.superseded : []).add(object.metadata.resourceVersion);
      lastWrites.set(key, { superseded, result: response.body });
      logger.debug({ object: `${kind} ${namespace}/${name}` }, 'status written');
      const event = transition(current, status.conditions);
      if (event !== null) options.events?.record(response.body, event.type, event.reason, event.note);
    } else if (response.status === 409) {
      counters.conflicts++;
      logger.debug({ object: `${kind} ${namespace}/${name}` }, 'status write conflicted; will retry on a fresher copy');
      retryLater(key);
    } else if (response.status === 404) {
      lastWrites.delete(key); // deleted since the cache saw it
    } else {
      counters.failures++;
      logger.warn({ object: `${kind} ${namespace}/${name}`, answer: describeFailure(response) }, 'status write failed; will retry');
      retryLater(key);
    }
  }

  return {
    publish(statuses) {
      const next = new Map(statuses.map((status) => [keyOf(status.kind, status.namespace, status.name), status]));
      for (const key of desired.keys()) {
        if (!next.has(key)) {
          desired.delete(key);
          queue.delete(key);
          cancelRetry(key);
          lastWrites.delete(key);
          backoffs.delete(key);
        }
      }
      for (const [key, status] of next) {
        const before = desired.get(key);
        desired.set(key, status);
        if (before === undefined || JSON.stringify(before) !== JSON.stringify(status)) {
          cancelRetry(key);
          queue.add(key);
        }
      }
      pump();
    },
    update(status) {
      const key = keyOf(status.kind, status.namespace, status.name);
      if (!desired.has(key)) return;
      desired.set(key, status);
      enqueue(key);
    },
    recheck(kind, namespace, name) {
      enqueue(keyOf(kind, namespace, name));
    },
    setLeader(value) {
      if (value === leader) return;
      leader = value;
      if (leader) for (const key of desired.keys()) queue.add(key);
      pump();
    },
    isLeader: () => leader,
    idle() {
      if (queue.size === 0 && inFlight.size === 0 && retries.size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stats: () => ({ ...counters }),
    close() {
      closed = true;
      for (const handle of retries.values()) timers.clearTimeout(handle);
      retries.clear();
      queue.clear();
      pump();
    },
  };
}

/** `status.provider` as a merge patch: each field of ours, null for one we no longer state (it is removed); null for no provider. */
function providerPatch(status: ObjectStatus): Record<string, unknown> | null {
  const provider = status.provider;
  if (provider === undefined) return null;
  return { type: provider.type, keys: provider.keys ?? null, lastFetchTime: provider.lastFetchTime ?? null, lastError: provider.lastError ?? null, lastErrorTime: provider.lastErrorTime ?? null };
}

/** The status fields of ours beside conditions and provider, each whole (null removes it). */
function listsPatch(status: ObjectStatus): Record<string, unknown> {
  if (status.kind === 'Route') return { rules: status.rules ?? null };
  if (status.kind === 'ClusterOIDCPolicy') return { namespaces: status.namespaces ?? null, defaultNamespaces: status.defaultNamespaces ?? null };
  return {};
}

/** Whether the stored `status.provider` already shows what `patch` would write (a null field: absent). */
function sameFields(stored: Record<string, unknown> | null, patch: Record<string, unknown> | null): boolean {
  if (patch === null || stored === null) return patch === stored;
  return Object.entries(patch).every(([field, value]) => (stored[field] ?? null) === value);
}
