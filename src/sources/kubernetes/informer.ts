// One informer: client-node's ListWatch over one resource, in one namespace or all, plus what
// ListWatch leaves to its user (read in its cache.ts and watch.ts, v2.0.1):
//
// - On 410 Gone (an HTTP 410, or an ERROR event with code 410) it clears its resourceVersion
//   and relists; on a client-side timeout (30 s without a byte) it resumes from the last
//   resourceVersion. On any other error it calls the error callbacks and stops for good, so
//   here it is restarted with back-off; a restart resumes from the last resourceVersion, and
//   if that has been compacted away the API server answers 410 and it relists.
// - It has no "synced" signal. It applies a list to its cache and then starts the watch, so
//   the first watch after a list marks the informer synced (relisted, on later lists).
// - It lists in one request; here lists are paged.
// - Exceptions thrown by event callbacks are swallowed by its line parser: callbacks here
//   never throw, they log.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { errorFields, type Logger } from '../../observability/logger.ts';
import { describeFailure, type KubeClient } from '../../kubernetes/client.ts';
import { collectionPath, trimObject, type KubeObject, type WatchedResource } from '../../kubernetes/resources.ts';
import { createBackoff } from '../../time/backoff.ts';
import { delay, SYSTEM_TIMERS, type TimerHandle, type Timers } from '../../time/timers.ts';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions {
  readonly client: KubeClient;
  readonly resource: WatchedResource;
  /** null: every namespace. */
  readonly namespace: string | null;
  /** Only the objects this field selector admits (`metadata.name=…`: one object, which RBAC can grant alone). */
  readonly fieldSelector?: string;
  readonly logger: Logger;
  readonly timers?: Timers;
  readonly onEvent: (event: InformerEvent, object: KubeObject) => void;
  /** After the first list (`relist` false) and after every later one (true): the cache is complete. */
  readonly onSynced?: (relist: boolean) => void;
  /** Objects per list page; default 500. */
  readonly pageSize?: number;
  /**
   * Restart back-off after an error; default 500 ms doubling to 8 s, so that the caches catch
   * up within seconds of an API server's return (client-go's reflector waits up to 30 s).
   */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
}

export interface Informer {
  /** `routes in team-a`, `secrets in all namespaces`. */
  readonly name: string;
  synced(): boolean;
  /** The cached objects. */
  list(): readonly KubeObject[];
  get(namespace: string, name: string): KubeObject | undefined;
  start(): void;
  stop(): Promise<void>;
}

interface WatchHooks {
  beforeWatch(): void;
  onWatchEvent(phase: string, object: KubeObject): KubeObject;
}

/** Adds watch bookmarks, trims objects before they reach the cache, and tells the informer when a watch starts. */
class InformerWatch extends Watch {
  readonly hooks: WatchHooks;

  constructor(config: KubeConfig, hooks: WatchHooks) {
    super(config);
    this.hooks = hooks;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: KubeObject, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.hooks.beforeWatch();
    try {
      // Bookmarks keep the resourceVersion fresh on quiet resources, so a resume is less likely to meet a compacted one.
      return await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, (phase, object, raw) => callback(phase, this.hooks.onWatchEvent(phase, object), raw), done);
    } catch (error) {
      // Authentication failed before any request (an exec plugin, an unreadable token file):
      // ListWatch does not await this call, so a throw here would be an unhandled rejection.
      done(error);
      return new AbortController();
    }
  }
}

export function createInformer(options: InformerOptions): Informer {
  const { client, resource, namespace, logger } = options;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const path = collectionPath(resource, namespace);
  const name = `${resource.plural} in ${namespace ?? 'all namespaces'}`;
  const log = logger.child({ informer: name });
  const backoff = createBackoff({ jitter: 0.2, ...(options.backoff ?? { baseMs: 500, maxMs: 8_000 }) });
  const pageSize = options.pageSize ?? 500;
  let synced = false;
  let listed = false;
  let stopped = true;
  let failing = false;
  let restart: TimerHandle | null = null;

  const safely = (what: () => void) => {
    try {
      what();
    } catch (error) {
      log.error({ err: errorFields(error) }, 'informer callback failed');
    }
  };

  const recovered = () => {
    backoff.reset();
    if (failing) log.info('watching again');
    failing = false;
  };

  const watch = new InformerWatch(client.config, {
    beforeWatch() {
      if (!listed) return;
      listed = false;
      const relist = synced;
      synced = true;
      recovered();
      if (relist) log.info({ objects: informer.list().length }, 'relisted');
      else log.debug({ objects: informer.list().length }, 'listed');
      safely(() => options.onSynced?.(relist));
    },
    onWatchEvent(phase, object) {
      if (phase === 'ERROR') {
        const status = object as unknown as { code?: number; message?: string };
        if (status.code === 410) log.info({ message: status.message }, 'watch expired (410 Gone); relisting');
        else log.warn({ code: status.code, message: status.message }, 'watch error event');
        return object;
      }
      recovered();
      return phase === 'BOOKMARK' ? object : trimObject(object, resource);
    },
  });

  async function listAll(): Promise<KubernetesListObject<KubernetesObject>> {
    const items: KubeObject[] = [];
    let resourceVersion = '';
    let token: string | undefined;
    for (;;) {
      const query: Record<string, string> = { limit: String(pageSize) };
      if (options.fieldSelector !== undefined) query.fieldSelector = options.fieldSelector;
      if (token !== undefined) query.continue = token;
      const response = await client.request<{ metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] }>('GET', path, { query, timeoutMs: 60_000 });
      if (response.status === 410 && token !== undefined) {
        // The continue token expired between pages: start the list again.
        items.length = 0;
        token = undefined;
        continue;
      }
      if (response.status !== 200) throw Object.assign(new Error(`listing ${name} failed: ${describeFailure(response)}`), { statusCode: response.status });
      for (const item of response.body.items ?? []) items.push(trimObject(item, resource));
      if (token === undefined) resourceVersion = response.body.metadata?.resourceVersion ?? '';
      token = response.body.metadata?.continue || undefined;
      if (token === undefined) break;
    }
    listed = true;
    // Our objects are plain JSON (timestamps as strings), not the typed classes ListWatch's types name.
    return { metadata: { resourceVersion }, items: items as KubernetesObject[] };
  }

  const listWatch = new ListWatch<KubernetesObject>(path, watch, listAll, false, undefined, options.fieldSelector, { delayFn: (ms) => delay(timers, ms) });
  listWatch.on('add', (object) => safely(() => options.onEvent('add', object as KubeObject)));
  listWatch.on('update', (object) => safely(() => options.onEvent('update', object as KubeObject)));
  listWatch.on('delete', (object) => safely(() => options.onEvent('delete', object as KubeObject)));
  listWatch.on('error', (error: unknown) => {
    // ListWatch has stopped; the cache is kept (and keeps serving) until a restart relists or resumes.
    if (stopped || restart !== null) return;
    const wait = backoff.next();
    const fields = { err: describeError(error), retryInMs: wait };
    if (failing) log.debug(fields, 'watch failed');
    else log.warn(fields, 'watch failed; retrying with back-off');
    failing = true;
    restart = timers.setTimeout(() => {
      restart = null;
      if (!stopped) void listWatch.start();
    }, wait);
  });

  const informer: Informer = {
    name,
    synced: () => synced,
    list: () => listWatch.list() as readonly KubeObject[],
    get: (objectNamespace, objectName) => listWatch.get(objectName, objectNamespace) as KubeObject | undefined,
    start() {
      stopped = false;
      void listWatch.start();
    },
    async stop() {
      stopped = true;
      if (restart !== null) timers.clearTimeout(restart);
      restart = null;
      await listWatch.stop();
    },
  };
  return informer;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  const status = (error as Error & { statusCode?: number }).statusCode;
  return `${error.message}${cause ? ` (${cause.code ?? cause.message})` : ''}${status !== undefined && !error.message.includes(String(status)) ? ` [${status}]` : ''}`;
}
