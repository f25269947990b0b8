// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it:
// - a candidate takes the Lease when it is free, released, or unrenewed for leaseDuration as
//   measured on this process's clock since the record last changed (never by comparing
//   another machine's renewTime with ours: clocks differ);
// - the leader renews every retryPeriod; if it cannot renew for renewDeadline it stops
//   leading before its Lease can expire in anyone else's eyes (renewDeadline < leaseDuration);
// - every write carries the resourceVersion it read, so two candidates cannot both win;
// - on stop, the leader releases the Lease (empty holder) so a successor takes over at once.
// Only the status writer depends on it: every replica serves traffic.
import type { Logger } from '../observability/logger.ts';
import { describeFailure, type KubeClient } from '../kubernetes/client.ts';
import { SYSTEM_TIMERS, type Timers } from '../time/timers.ts';
import { microTime } from './conditions.ts';

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** The Lease's name. */
  readonly name: string;
  /** This candidate, unique among replicas (`<pod name>_<random>`). */
  readonly identity: string;
  readonly logger: Logger;
  readonly timers?: Timers;
  /** Default 15 s. */
  readonly leaseDurationMs?: number;
  /** Default 10 s; must be shorter than leaseDuration. */
  readonly renewDeadlineMs?: number;
  /** Default 2 s. */
  readonly retryPeriodMs?: number;
  readonly onChange: (leader: boolean) => void;
  /** Jitter for candidates' retries (client-go: up to 1.2 × retryPeriod more); default Math.random. */
  readonly random?: () => number;
}

export interface LeaderElector {
  start(): void;
  isLeader(): boolean;
  /** Stops campaigning; a leader releases the Lease first. */
  stop(): Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export function createLeaderElector(options: LeaderElectionOptions): LeaderElector {
  const { client, logger, identity } = options;
  const timers = options.timers ?? SYSTEM_TIMERS;
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const random = options.random ?? Math.random;
  if (!(renewDeadlineMs < leaseDurationMs)) throw new TypeError('The renew deadline must be shorter than the lease duration.');
  if (!(retryPeriodMs < renewDeadlineMs)) throw new TypeError('The retry period must be shorter than the renew deadline.');
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases`;
  const leasePath = `${path}/${encodeURIComponent(options.name)}`;
  const log = logger.child({ lease: `${options.namespace}/${options.name}`, identity });
  // A request may take at most half the renew deadline, so a hung one cannot outlive the lease.
  const timeoutMs = Math.max(500, Math.floor(renewDeadlineMs / 2));

  let leader = false;
  let stopped = true;
  let lastRenew = -Infinity;
  let observedRecord = '';
  let observedAt = 0;
  let observed: Lease | null = null;
  /** The round in flight, which stop() lets finish before releasing. */
  let round: Promise<boolean> | null = null;
  /** The wait between rounds, which stop() cuts short. */
  let pause: { handle: unknown; resolve: () => void } | null = null;
  let lastError = '';

  function setLeader(value: boolean, why: string): void {
    if (value === leader) return;
    leader = value;
    if (value) log.info('became the leader: writing status');
    else log.warn({ why }, 'stopped leading: no longer writing status');
    options.onChange(value);
  }

  function spec(previous: LeaseSpec | undefined, now: number): LeaseSpec {
    const renewing = previous?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: renewing ? (previous?.acquireTime ?? microTime(now)) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: renewing ? (previous?.leaseTransitions ?? 0) : (previous?.leaseTransitions ?? -1) + 1,
    };
  }

  /** One round: true when this candidate holds the Lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = timers.now();
    const got = await client.request<Lease>('GET', leasePath, { timeoutMs });
    if (got.status === 404) {
      const lease: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: options.name, namespace: options.namespace }, spec: spec(undefined, now) };
      const created = await client.request<Lease>('POST', path, { body: lease, timeoutMs });
      if (created.status === 201 || created.status === 200) return remember(created.body, timers.now());
      if (created.status === 409) return false; // another candidate created it first
      throw new Error(`creating the Lease: ${describeFailure(created)}`);
    }
    if (got.status !== 200) throw new Error(`reading the Lease: ${describeFailure(got)}`);
    const current = got.body;
    const record = JSON.stringify(current.spec ?? {});
    if (record !== observedRecord) {
      observedRecord = record;
      observedAt = now;
    }
    observed = current;
    const holder = current.spec?.holderIdentity ?? '';
    const durationMs = (current.spec?.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
    if (holder !== '' && holder !== identity && observedAt + durationMs > now) {
      if (leader) setLeader(false, `the Lease is held by ${holder}`);
      return false;
    }
    const updated = await client.request<Lease>('PUT', leasePath, { body: { ...current, spec: spec(current.spec, now) }, timeoutMs });
    if (updated.status === 200) return remember(updated.body, timers.now());
    if (updated.status === 409) return false; // someone wrote it since we read it
    throw new Error(`updating the Lease: ${describeFailure(updated)}`);
  }

  function remember(lease: Lease, now: number): boolean {
    observed = lease;
    observedRecord = JSON.stringify(lease.spec ?? {});
    observedAt = now;
    return true;
  }

  async function run(): Promise<void> {
    while (!stopped) {
      let held = false;
      try {
        round = tryAcquireOrRenew();
        held = await round;
        lastError = '';
      } catch (error) {
        const message = (error as Error).message;
        if (message !== lastError) log.warn({ err: message }, 'leader election request failed');
        lastError = message;
      } finally {
        round = null;
      }
      if (stopped) break;
      const now = timers.now();
      if (held) {
        lastRenew = now;
        setLeader(true, '');
      } else if (leader && now - lastRenew >= renewDeadlineMs) {
        setLeader(false, `could not renew the Lease for ${Math.round((now - lastRenew) / 1000)} s`);
      }
      await new Promise<void>((resolve) => {
        const ms = leader ? retryPeriodMs : retryPeriodMs + Math.round(retryPeriodMs * 1.2 * random());
        pause = { handle: timers.setTimeout(resolve, ms), resolve };
      });
      pause = null;
    }
  }

  async function release(): Promise<void> {
    if (observed === null || observed.spec?.holderIdentity !== identity) return;
    const now = timers.now();
    const released = { ...observed, spec: { ...observed.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now) } };
    try {
      const answer = await client.request('PUT', leasePath, { body: released, timeoutMs });
      if (answer.status === 200) log.info('released the Lease');
      else log.warn({ answer: describeFailure(answer) }, 'could not release the Lease; a successor waits for it to expire');
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'could not release the Lease; a successor waits for it to expire');
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      log.info('campaigning for leadership');
      void run();
    },
    isLeader: () => leader,
    async stop() {
      if (stopped) return;
      stopped = true;
      const wasLeader = leader;
      setLeader(false, 'stopping');
      if (pause !== null) {
        timers.clearTimeout(pause.handle);
        pause.resolve();
      }
      // A renewal in flight would make the release conflict: let it land first.
      await round?.catch(() => false);
      if (wasLeader) await release();
    },
  };
}
