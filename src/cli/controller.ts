// `portcullis controller`: Routes and OIDCPolicies from the API server, served by this
// process, with their status written back by whichever replica leads.
//
//   informers ──► snapshot ──► serving.apply() ──► table (every replica)
//                                     └─► statuses (+ Ready from the auth runtime) ──► status writer (leader only)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ProviderReadiness } from '../auth/provider.ts';
import type { CompileResult } from '../compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../compile/snapshot.ts';
import type { ObjectStatus, StatusCondition } from '../model/status.ts';
import type { RouteTable } from '../model/table.ts';
import { createKubeClient, loadKubeConfig } from '../sources/kubernetes/client.ts';
import { createKubernetesSource, DEFAULT_CLASS } from '../sources/kubernetes/source.ts';
import type { Timers } from '../sources/kubernetes/timers.ts';
import { createEventRecorder } from '../status/events.ts';
import { createLeaderElector, type LeaderElector } from '../status/leader.ts';
import { createStatusWriter, type StatusWriter } from '../status/writer.ts';
import { startServing, type ServeOptions } from './serve.ts';

export interface LeaderElectionSettings {
  readonly enabled: boolean;
  /** Default: the kubeconfig context's namespace (in a pod, its own), else `default`. */
  readonly namespace: string | undefined;
  /** Default `portcullis-leader` for the default class, `portcullis-leader-<class>` for another. */
  readonly lease: string | undefined;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface ControllerOptions extends Omit<ServeOptions, 'compileOptions' | 'onReadinessChange'> {
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
  let last: CompileResult | null = null;

  const serving = await startServing({
    ...options,
    compileOptions,
    // Inside sync() the new result is not in `last` yet; apply() publishes every status right after.
    onReadinessChange: (policy) => queueMicrotask(() => publishPolicy(policy.key)),
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
      if (last === null) logger.info({ routes: snapshot.routes.length, policies: snapshot.policies.length, rejected: snapshot.rejected.length }, 'informers synced; compiling the first table');
      else logger.info({ changes }, 'relevant change; compiling');
      last = serving.apply(snapshot);
      writer.publish(last.statuses.map(withReady));
      const notTrue = last.statuses.filter((status) => status.conditions.some((condition) => condition.status !== 'True'));
      if (notTrue.length > 0) logger.info({ objects: notTrue.length, first: notTrue.slice(0, 5).map((s) => `${s.kind} ${s.namespace}/${s.name}`) }, 'objects with a condition not True (see their status)');
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

  /** An OIDCPolicy's compiled conditions, plus Ready as the auth runtime sees it now. */
  function withReady(status: ObjectStatus): ObjectStatus {
    if (status.kind !== 'OIDCPolicy' || last === null) return status;
    return { ...status, conditions: [...status.conditions, readyCondition(status, last.table, (policy) => serving.auth.readiness(policy))] };
  }

  function publishPolicy(key: string): void {
    const status = last?.statuses.find((s) => s.kind === 'OIDCPolicy' && `${s.namespace}/${s.name}` === key);
    if (status !== undefined) writer.update(withReady(status));
  }

  let elector: LeaderElector | null = null;
  const election = options.leaderElection;
  if (election.enabled) {
    const namespace = election.namespace ?? client.namespace ?? podNamespace() ?? 'default';
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
      await events.flush();
      await serving.close();
      await client.close();
    },
  };
}

/** Ready: True once discovery and keys are fetched; Unknown while fetching; False when fetching failed or the policy did not compile. */
export function readyCondition(status: ObjectStatus, table: RouteTable, readiness: (policy: NonNullable<ReturnType<RouteTable['policies']['get']>>) => ProviderReadiness): StatusCondition {
  const generation = status.generation === null ? {} : { observedGeneration: status.generation };
  const policy = table.policies.get(`${status.namespace}/${status.name}`);
  if (policy === undefined) {
    const failed = status.conditions.find((condition) => condition.status !== 'True');
    return { type: 'Ready', status: 'False', reason: failed?.reason ?? 'Invalid', message: `The policy is not in use: ${failed?.type ?? 'Accepted'} is not True.`, ...generation };
  }
  const state = readiness(policy);
  return { type: 'Ready', status: state.ready ? 'True' : state.reason === 'Pending' ? 'Unknown' : 'False', reason: state.reason, message: state.message, ...generation };
}

function podNamespace(): string | null {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || null;
  } catch {
    return null;
  }
}
