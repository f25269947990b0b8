// What compile() cannot know, added to its statuses before they are written: whether each
// policy's provider has been reached. Every OIDCPolicy gets `Ready`; a Route with a rule whose
// policy is not ready is not Programmed, since that rule answers 503 POLICY_NOT_READY meanwhile
// (Unknown while the provider is still being fetched, False once fetching failed). Once its
// provider's keys are held, a policy also gets `Degraded` (True while refreshing them fails) and
// `status.provider` says how many keys, when they were fetched, and the last error. They are
// published with every new table, and again whenever a policy's provider changes.
import { degradation, type ProviderHealth, type ProviderReadiness } from '../auth/provider.ts';
import type { CompileResult } from '../compile/compile.ts';
import { describePolicy, policyKeyOfStatus, type AuthPolicy } from '../model/policy.ts';
import type { ObjectStatus, ProviderStatus, StatusCondition } from '../model/status.ts';
import type { RouteTable } from '../model/table.ts';
import { metaTime } from './conditions.ts';

export type Readiness = (policy: AuthPolicy) => ProviderReadiness;
/** null while the policy is not loaded. */
export type Health = (policy: AuthPolicy) => ProviderHealth | null;

export interface RuntimeStatuses {
  /** A new table: publishes its statuses with the runtime conditions, and answers them. */
  publish(result: CompileResult): ObjectStatus[];
  /** A policy's provider changed (its readiness or its health): publishes the last table's statuses again. */
  providerChanged(): void;
}

export function createRuntimeStatuses(options: { readonly readiness: Readiness; readonly health: Health; readonly publish: (statuses: readonly ObjectStatus[]) => void }): RuntimeStatuses {
  let last: CompileResult | null = null;
  let republishQueued = false;
  const publish = (result: CompileResult) => {
    const statuses = withRuntimeConditions(result.statuses, result.table, options.readiness, options.health);
    options.publish(statuses);
    return statuses;
  };
  return {
    publish(result) {
      last = result;
      return publish(result);
    },
    providerChanged() {
      // Once per burst (the providers of one table change together); and readiness may change
      // inside the auth runtime's sync(), before the new result is `last`: hence the microtask.
      if (republishQueued) return;
      republishQueued = true;
      queueMicrotask(() => {
        republishQueued = false;
        if (last !== null) publish(last);
      });
    },
  };
}

export function withRuntimeConditions(statuses: readonly ObjectStatus[], table: RouteTable, readiness: Readiness, health: Health = () => null): ObjectStatus[] {
  const waits = waitingRules(table, readiness);
  return statuses.map((status) => {
    if (status.kind === 'OIDCPolicy' || status.kind === 'ClusterOIDCPolicy') return withProvider(status, table, readiness, health);
    const wait = waits.get(`${status.namespace}/${status.name}`);
    if (wait === undefined) return status;
    return { ...status, conditions: status.conditions.map((condition) => (condition.type === 'Programmed' ? notProgrammed(condition, wait) : condition)) };
  });
}

/** An OIDCPolicy's status with Ready, Degraded and `status.provider` as its provider is now. */
function withProvider(status: ObjectStatus, table: RouteTable, readiness: Readiness, health: Health): ObjectStatus {
  const policy = table.policies.get(policyKeyOfStatus(status));
  const state = policy === undefined ? null : health(policy);
  const ready = readyCondition(status, table, readiness);
  const degraded = state === null ? null : degradedCondition(state, status.generation);
  const conditions = [...status.conditions, ready, ...(degraded === null ? [] : [degraded])];
  if (status.provider === undefined || state === null) return { ...status, conditions };
  return { ...status, conditions, provider: { ...status.provider, ...providerFields(state) } };
}

/** Degraded, once the provider's keys are held: True while refreshing them fails (tokens still verify), False once a refresh succeeds. */
export function degradedCondition(health: ProviderHealth, generation: number | null = null): StatusCondition | null {
  const state = degradation(health);
  if (state === null) return null;
  return { type: 'Degraded', status: state.degraded ? 'True' : 'False', reason: state.reason, message: state.message, ...(generation === null ? {} : { observedGeneration: generation }) };
}

/** `status.provider`'s fields from the runtime: KEYS, LAST FETCH, and the last error with its time. */
export function providerFields(health: ProviderHealth): Omit<ProviderStatus, 'type'> {
  return {
    keys: health.keys,
    ...(health.lastFetchTime === null ? {} : { lastFetchTime: metaTime(health.lastFetchTime) }),
    ...(health.lastError === null ? {} : { lastError: health.lastError.message, lastErrorTime: metaTime(health.lastError.time) }),
  };
}

/** A policy's Ready: from its provider's readiness, or False when the policy did not compile. */
export function readyCondition(status: ObjectStatus, table: RouteTable, readiness: Readiness): StatusCondition {
  const generation = status.generation === null ? {} : { observedGeneration: status.generation };
  const policy = table.policies.get(policyKeyOfStatus(status));
  if (policy === undefined) {
    const failed = status.conditions.find((condition) => condition.status !== 'True');
    return { type: 'Ready', status: 'False', reason: failed?.reason ?? 'Invalid', message: `The policy is not in use: ${failed?.type ?? 'Accepted'} is not True.`, ...generation };
  }
  return { ...readinessCondition(readiness(policy)), ...generation };
}

/** Ready: True once discovery and keys are fetched; Unknown while fetching; False when fetching failed. */
export function readinessCondition(state: ProviderReadiness): StatusCondition {
  return { type: 'Ready', status: state.ready ? 'True' : state.reason === 'Pending' ? 'Unknown' : 'False', reason: state.reason, message: state.message };
}

/** Sentences naming each waiting rule and its policy: those whose provider failed, those still fetching. */
interface Wait {
  readonly failures: string[];
  readonly pending: string[];
}

/** Per Route (`namespace/name`), the rules that wait for a policy that is not ready. */
function waitingRules(table: RouteTable, readiness: Readiness): Map<string, Wait> {
  const states = new Map<AuthPolicy, ProviderReadiness>();
  const waits = new Map<string, Wait>();
  const seen = new Set<string>();
  for (const rule of table.rules) {
    const policy = rule.action.kind === 'respond' ? null : rule.action.policy;
    if (policy === null) continue;
    let state = states.get(policy);
    if (state === undefined) states.set(policy, (state = readiness(policy)));
    if (state.ready) continue;
    const route = `${rule.route.namespace}/${rule.route.name}`;
    const field = `spec.rules[${rule.ruleIndex}]`;
    // Each match of a rule is a table entry of its own; the rule is named once.
    if (seen.has(`${route}\n${field}`)) continue;
    seen.add(`${route}\n${field}`);
    let wait = waits.get(route);
    if (wait === undefined) waits.set(route, (wait = { failures: [], pending: [] }));
    if (state.reason === 'Pending') {
      wait.pending.push(`${field}: ${describePolicy(policy)} is still fetching its provider's discovery document and keys; until then requests to ${field} get 503 POLICY_NOT_READY.`);
    } else {
      wait.failures.push(`${field}: ${describePolicy(policy)} is not ready (${state.reason}, see its Ready condition). Requests to ${field} get 503 POLICY_NOT_READY.`);
    }
  }
  return waits;
}

/** Programmed as compile() saw it, with the rules that wait for a policy added. */
function notProgrammed(compiled: StatusCondition, wait: Wait): StatusCondition {
  const message = [...wait.failures, ...wait.pending].join(' ');
  // A Route already False for its spec keeps that reason; the wait is added to the message.
  if (compiled.status === 'False') return { ...compiled, message: `${compiled.message} ${message}` };
  const failed = wait.failures.length > 0;
  return { ...compiled, status: failed ? 'False' : 'Unknown', reason: failed ? 'PolicyNotReady' : 'Pending', message };
}
