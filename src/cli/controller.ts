// `portcullis controller`: Routes and OIDCPolicies from the API server, served by this
// process, with their status written back by whichever replica leads.
//
//   informers ──► snapshot ──► serving.apply() ──► table (every replica)
//                                     └─► statuses (+ provider readiness, src/status/runtime.ts) ──► status writer (leader only)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createKubeClient, loadKubeConfig } from '../kubernetes/client.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../model/snapshot.ts';
import { conditionHealthy, describeObject } from '../model/status.ts';
import type { RouteTable } from '../model/table.ts';
import { createKubernetesSource, DEFAULT_CLASS } from '../sources/kubernetes/source.ts';
import { createEventRecorder } from '../status/events.ts';
import { createLeaderElector, type LeaderElector } from '../status/leader.ts';
import { createRuntimeStatuses } from '../status/runtime.ts';
import { createStatusWriter, type StatusWriter } from '../status/writer.ts';
import type { Timers } from '../time/timers.ts';
import { createAssertionKeySet } from '../auth/assertion/keys.ts';
import { assertionKeysFromFile, generatedControllerKeys, watchAssertionKeySecret } from './assertion-keys.ts';
import { startServing, type ServeOptions } from './serve.ts';

export interface LeaderElectionSettings {
  readonly enabled: boolean;
  /** Default: see leaseNamespace(). */
  readonly namespace: string | undefined;
  /** Default `portcullis-leader` for the default class, `portcullis-leader-<class>` for another. */
  readonly lease: string | undefined;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface ControllerOptions extends Omit<ServeOptions, 'compileOptions' | 'onReadinessChange' | 'onHealthChange' | 'assertion'> {
  /** A kubeconfig file; default the usual chain (KUBECONFIG, ~/.kube/config, in-cluster). */
  readonly kubeconfig: string | undefined;
  /** Watch only these namespaces; empty: all. */
  readonly namespaces: readonly string[];
  readonly className: string;
  readonly allowLocalBackends: boolean;
  readonly allowedBackendHosts: readonly string[] | null;
  readonly leaderElection: LeaderElectionSettings;
  readonly holdoffMs?: number;
  readonly maxHoldoffMs?: number;
  readonly timers?: Timers;
  /** The `iss` of X-Portcullis-Assertion. */
  readonly assertionIssuer: string;
  /** The Secret whose keys.pem signs it, watched; without it or a file, a key generated at start. */
  readonly assertionKeySecret?: { readonly namespace: string; readonly name: string };
  /** A PEM file of the keys that sign it, read at start. */
  readonly assertionKeyFile?: string;
}

export interface RunningController {
  readonly proxyURL: string;
  readonly opsURL: string;
  readonly identity: string;
  table(): RouteTable;
  readonly writer: StatusWriter;
  close(): Promise<void>;
}

export const DEFAULT_LEADER_ELECTION: LeaderElectionSettings = {
  enabled: true,
  namespace: undefined,
  lease: undefined,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The namespace in which deploy/rbac/30-leader-election.yaml lets the controller hold its Lease. */
export const RBAC_LEASE_NAMESPACE = 'portcullis-system';

/**
 * Where the Lease goes: `--leader-election-namespace`; else the kubeconfig context's namespace
 * (in a pod, its own); else the pod's namespace; else — outside a pod, with a kubeconfig that
 * names no namespace — the namespace deploy/rbac grants the Lease in. We default there rather
 * than refuse to start: it is where `kubectl apply -f deploy/rbac/` put the grant, whereas
 * `default` (the old fallback) is where that identity may do nothing.
 */
export function leaseNamespace(flag: string | undefined, context: string | null, pod: string | null): { readonly namespace: string; readonly defaulted: boolean } {
  const given = flag ?? context ?? pod;
  return given === undefined || given === null ? { namespace: RBAC_LEASE_NAMESPACE, defaulted: true } : { namespace: given, defaulted: false };
}

export function leaseName(className: string): string {
  return className === DEFAULT_CLASS ? 'portcullis-leader' : `portcullis-leader-${className}`;
}

export async function runController(options: ControllerOptions): Promise<RunningController> {
  const { logger } = options;
  const client = createKubeClient(loadKubeConfig(options.kubeconfig));
  const compileOptions: CompileOptions = {
    ...DEFAULT_COMPILE_OPTIONS,
    mode: 'controller',
    generatedSessionKey: null,
    allowLocalBackends: options.allowLocalBackends,
    allowedBackendHosts: options.allowedBackendHosts,
  };
  // In a pod the host name is the pod's name: the Lease and Events then say which replica.
  const identity = `${hostname()}_${randomUUID().slice(0, 8)}`;
  let firstTable = true;

  // Replicas behind one Service must share the keys, or an upstream verifying against the JWKS of
  // one replica meets the kid of another: so in a cluster they come from a Secret.
  const secret = options.assertionKeySecret;
  const assertionKeys =
    secret !== undefined ? createAssertionKeySet() : options.assertionKeyFile !== undefined ? assertionKeysFromFile(options.assertionKeyFile, logger) : generatedControllerKeys(logger);
  const keysWatch = secret === undefined ? null : watchAssertionKeySecret({ client, ...secret, keys: assertionKeys, logger, ...(options.timers ? { timers: options.timers } : {}) });

  const serving = await startServing({
    ...options,
    compileOptions,
    assertion: { issuer: options.assertionIssuer, keys: assertionKeys },
    // A policy's readiness changes its Ready condition and the Programmed condition of the Routes
    // that use it; its provider's health, its Degraded condition and status.provider.
    onReadinessChange: () => statuses.providerChanged(),
    onHealthChange: () => statuses.providerChanged(),
  });

  const events = createEventRecorder({ client, instance: identity, logger, ...(options.timers ? { timers: options.timers } : {}) });
  const source = createKubernetesSource({
    client,
    namespaces: options.namespaces.length === 0 ? null : options.namespaces,
    className: options.className,
    logger,
    ...(options.timers ? { timers: options.timers } : {}),
    ...(options.holdoffMs === undefined ? {} : { holdoffMs: options.holdoffMs }),
    ...(options.maxHoldoffMs === undefined ? {} : { maxHoldoffMs: options.maxHoldoffMs }),
    onSnapshot(snapshot, changes) {
      if (firstTable) logger.info({ routes: snapshot.routes.length, policies: snapshot.policies.length, rejected: snapshot.rejected.length }, 'informers synced; compiling the first table');
      else logger.info({ changes }, 'relevant change; compiling');
      firstTable = false;
      const published = statuses.publish(serving.apply(snapshot));
      const notTrue = published.filter((status) => !status.conditions.every(conditionHealthy));
      if (notTrue.length > 0) logger.info({ objects: notTrue.length, first: notTrue.slice(0, 5).map(describeObject) }, 'objects with a condition not True (see their status)');
    },
    onObjectChange: (kind, namespace, name) => writer.recheck(kind, namespace, name),
  });
  const writer = createStatusWriter({
    client,
    current: (kind, namespace, name) => source.get(kind, namespace, name),
    logger,
    events,
    ...(options.timers ? { timers: options.timers } : {}),
  });
  // The compiled statuses with what the auth runtime knows now: Ready, Degraded, status.provider, and the rules waiting for a provider.
  const statuses = createRuntimeStatuses({ readiness: (policy) => serving.auth.readiness(policy), health: (policy) => serving.auth.health(policy), publish: (published) => writer.publish(published) });

  let elector: LeaderElector | null = null;
  const election = options.leaderElection;
  if (election.enabled) {
    const { namespace, defaulted } = leaseNamespace(election.namespace, client.namespace, podNamespace());
    if (defaulted) logger.info({ namespace }, 'no namespace for the leader-election Lease in the flags or the kubeconfig: using the one deploy/rbac grants it in (--leader-election-namespace sets another)');
    elector = createLeaderElector({
      client,
      namespace,
      name: election.lease ?? leaseName(options.className),
      identity,
      logger,
      leaseDurationMs: election.leaseDurationMs,
      renewDeadlineMs: election.renewDeadlineMs,
      retryPeriodMs: election.retryPeriodMs,
      ...(options.timers ? { timers: options.timers } : {}),
      onChange: (leader) => writer.setLeader(leader),
    });
  } else {
    writer.setLeader(true);
  }

  keysWatch?.start();
  source.start();
  elector?.start();

  return {
    proxyURL: serving.proxyURL,
    opsURL: serving.opsURL,
    identity,
    table: serving.table,
    writer,
    async close() {
      // The Lease first, so that another replica starts writing status at once.
      await elector?.stop();
      writer.close();
      await source.stop();
      await keysWatch?.stop();
      await events.flush();
      await serving.close();
      await client.close();
    },
  };
}

function podNamespace(): string | null {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || null;
  } catch {
    return null;
  }
}
