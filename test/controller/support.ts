// What the controller tests share: a control plane with the CRDs and deploy/rbac applied, the
// controller's own identity (its ServiceAccount, bound to those roles only), the controller as
// its own process, and polling helpers.
import { join } from 'node:path';
import { parse } from 'yaml';
import { startCluster, type Cluster, type ClusterOptions, type Identity } from '../cluster/harness.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

export const RBAC_DIR = join(REPO_ROOT, 'deploy', 'rbac');
export const CONTROLLER_NAMESPACE = 'portcullis-system';
export const CONTROLLER_USER = `system:serviceaccount:${CONTROLLER_NAMESPACE}:portcullis`;

export interface ControlPlane {
  readonly cluster: Cluster;
  /** The controller's ServiceAccount, bound by deploy/rbac and nothing else. */
  readonly identity: Identity;
}

/** A cluster as a user sets it up: `kubectl apply -f crds/`, then `kubectl apply -f deploy/rbac/`. */
export async function startControlPlane(options: ClusterOptions = {}): Promise<ControlPlane> {
  const cluster = await startCluster(options);
  try {
    await cluster.applyCrds();
    await mustKubectl(cluster, ['apply', '-f', RBAC_DIR]);
    const identity = await cluster.serviceAccount(CONTROLLER_NAMESPACE, 'portcullis');
    return { cluster, identity };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/**
 * `portcullis controller` as its own process, authenticated as `kubeconfig` says (never the
 * admin); without the drain delay a pod needs, unless `args` set one.
 */
export function startController(kubeconfig: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<PortcullisProcess> {
  const drain = args.includes('--drain-delay') ? [] : ['--drain-delay', '0s'];
  return startPortcullis(['controller', '--kubeconfig', kubeconfig, ...drain, ...args], { env: { ...process.env, KUBECONFIG: '', ...env } });
}

export async function mustKubectl(cluster: Cluster, args: readonly string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Polls `probe` until it answers something other than undefined/false. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}.`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
  readonly lastTransitionTime?: string;
}

/** The object's `status.conditions` by type, as `kubectl get -o yaml` shows them. */
export async function conditionsOf(cluster: Cluster, resource: string, namespace: string, name: string): Promise<Record<string, Condition>> {
  // A cluster-scoped object ('' namespace) is named without one.
  const result = await cluster.kubectl(['get', resource, name, ...(namespace === '' ? [] : ['-n', namespace]), '-o', 'yaml']);
  if (result.code !== 0) return {};
  const object = parse(result.stdout) as { status?: { conditions?: Condition[] } };
  return Object.fromEntries((object.status?.conditions ?? []).map((c) => [c.type, c]));
}

/** Waits until the condition `type` has `status` (and, if given, a message matching). */
export function waitForCondition(cluster: Cluster, resource: string, namespace: string, name: string, type: string, status: string, message?: RegExp, timeoutMs?: number): Promise<Condition> {
  return waitFor(
    `${resource} ${namespace}/${name} to have ${type}=${status}${message ? ` with a message matching ${message}` : ''}`,
    async () => {
      const condition = (await conditionsOf(cluster, resource, namespace, name))[type];
      return condition?.status === status && (message === undefined || message.test(condition.message)) ? condition : undefined;
    },
    timeoutMs,
    100,
  );
}

export type { Cluster, Identity, PortcullisProcess };

/** A public Route in `default` answering `/<name>` from `upstream`. */
export function publicRoute(name: string, upstream: string): string {
  return `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ${name}, namespace: default}
spec:
  rules:
    - public: true
      matches: [{path: {value: /${name}}}]
      backends: [{url: "${upstream}"}]
`;
}
