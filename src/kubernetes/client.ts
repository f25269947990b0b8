// The API server as raw JSON. @kubernetes/client-node supplies the kubeconfig (a file, the
// default chain, or the pod's service account), its authentication and TLS, and the watch
// stream; its typed API classes are not used, because they turn timestamps into Dates and
// drop `kind`/`apiVersion` from list items while watch events stay plain JSON. Raw JSON
// everywhere gives the informers, the status writer and the lease one shape of object.
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch, type Dispatcher } from 'undici';

export interface KubeRequest {
  readonly body?: unknown;
  /** Default `application/json`; merge patches send `application/merge-patch+json`. */
  readonly contentType?: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Default 15 s: a request to a stopped API server must fail, not hang. */
  readonly timeoutMs?: number;
}

export interface KubeResponse<T> {
  readonly status: number;
  /** Parsed JSON; for an error status, usually a metav1.Status. */
  readonly body: T;
}

export interface KubeClient {
  /** `https://host:port` of the current cluster. */
  readonly server: string;
  readonly config: KubeConfig;
  /** The current context's namespace (in a pod: the service account's), if any. */
  readonly namespace: string | null;
  /** Never throws for an HTTP status; throws when no answer came (refused, reset, timed out). */
  request<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options?: KubeRequest): Promise<KubeResponse<T>>;
  close(): Promise<void>;
}

/** A metav1.Status as the API server sends it with an error. */
export interface KubeStatus {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** No usable kubeconfig: a person must point the controller at a cluster. */
export class KubeConfigMissing extends Error {
  override name = 'KubeConfigMissing';
}

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const config = new KubeConfig();
  if (path === undefined) config.loadFromDefault();
  else config.loadFromFile(path);
  if (config.getCurrentCluster() === null) throw new KubeConfigMissing('The kubeconfig names no current cluster; pass --kubeconfig, set KUBECONFIG, or run in a pod.');
  // With no KUBECONFIG, no ~/.kube/config and no service account, client-node falls back to an
  // unauthenticated http://localhost:8080, where a controller would retry for ever.
  if (path === undefined && config.getCurrentCluster()?.name === 'cluster' && config.getCurrentCluster()?.server === 'http://localhost:8080' && config.getCurrentUser()?.name === 'user') {
    throw new KubeConfigMissing('No kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod; pass --kubeconfig <file>.');
  }
  return config;
}

export function createKubeClient(config: KubeConfig): KubeClient {
  const cluster = config.getCurrentCluster()!;
  const server = cluster.server.replace(/\/+$/, '');
  const namespace = config.getContextObject(config.getCurrentContext())?.namespace ?? null;
  // client-node builds a new undici Agent for every request it authenticates; one shared
  // dispatcher keeps connections alive across the writer's and the lease's requests.
  let dispatcher: Dispatcher | undefined;
  let dispatcherReady = false;

  async function authenticate(url: string, method: HttpMethod): Promise<RequestContext> {
    const context = new RequestContext(url, method);
    // Headers are applied on every call: a projected service-account token is re-read as it rotates.
    await config.applySecurityAuthentication(context);
    if (!dispatcherReady) {
      dispatcher = context.getDispatcher() as Dispatcher | undefined;
      dispatcherReady = true;
    }
    return context;
  }

  return {
    server,
    config,
    namespace,
    async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options: KubeRequest = {}): Promise<KubeResponse<T>> {
      const url = new URL(server + path);
      for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
      const context = await authenticate(url.toString(), HttpMethod[method]);
      const headers: Record<string, string> = { accept: 'application/json', ...context.getHeaders() };
      if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
      const response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        dispatcher,
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      });
      const text = await response.text();
      let body: unknown;
      try {
        body = text === '' ? null : JSON.parse(text);
      } catch {
        body = { kind: 'Status', code: response.status, message: text.slice(0, 500) } satisfies KubeStatus;
      }
      return { status: response.status, body: body as T };
    },
    async close() {
      await dispatcher?.close();
    },
  };
}

/** `reason: message` of an error answer, for logs. */
export function describeFailure(response: KubeResponse<unknown>): string {
  const status = response.body as KubeStatus | null;
  return `${response.status}${status?.reason ? ` ${status.reason}` : ''}${status?.message ? `: ${status.message}` : ''}`;
}
