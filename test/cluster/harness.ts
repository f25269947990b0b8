// A real control plane for tests and for people: etcd and kube-apiserver, built from Go
// modules by build.sh, on free loopback ports with throw-away certificates, RBAC, no
// endpoint reconciler and an audit log. Flags as in README.md and smoke.sh.
//
//   let cluster: Cluster;
//   beforeAll(async () => { cluster = await startCluster(); }, CLUSTER_START_TIMEOUT_MS);
//   afterAll(() => cluster?.stop());
//
// The binaries come from `options.binDir`, else $PORTCULLIS_CLUSTER_BIN, else build.sh
// (which answers from its cache at once, or builds for about six minutes on a cold machine).
// Ready about three seconds after start, so each test file starts its own.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts } from '../support/ports.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { clusterOperations, type ClusterOperations, type Identity } from './kubectl.ts';
import { createCa, createServiceAccountKey, signLeaf, type KeyPair } from './pki.ts';
import { bootId, isAlive, realProcess, startServer, type ServerProcess } from './processes.ts';

export type { AuditEvent, ClusterOperations, Identity, KubectlOptions, KubectlResult } from './kubectl.ts';
export { CRD_DIR } from './kubectl.ts';

export const BUILD_SCRIPT = join(import.meta.dirname, 'build.sh');

/** For beforeAll: room for a cold build.sh run (about six minutes) on top of a start of seconds. */
export const CLUSTER_START_TIMEOUT_MS = 15 * 60_000;

const READY_TIMEOUT_MS = 90_000;
const API_SERVER_GRACE_MS = 20_000;
const ETCD_GRACE_MS = 10_000;
const WORK_DIR_PREFIX = 'portcullis-harness-';

export interface ClusterOptions {
  /** Directory holding kube-apiserver, kubectl and etcd. */
  readonly binDir?: string;
  /** Extra kube-apiserver flags, such as `--watch-cache=false`. */
  readonly apiServerArgs?: readonly string[];
  /** Keep the work directory (certificates, kubeconfigs, logs, etcd data) after stop(). */
  readonly keepWorkDir?: boolean;
}

export interface Cluster extends ClusterOperations {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  readonly etcdURL: string;
  readonly binDir: string;
  /** Certificates, kubeconfigs, logs and etcd data; removed by stop() unless kept. */
  readonly workDir: string;
  /** The admin's kubeconfig (client certificate, group `system:masters`). */
  readonly kubeconfig: string;
  readonly admin: Identity & KeyPair;
  /** The CA that signed the serving certificate and every client certificate. */
  readonly caFile: string;
  /** JSON lines, one per request (level Metadata, stage ResponseComplete). */
  readonly auditLog: string;
  readonly apiServerLog: string;
  readonly etcdLog: string;
  readonly pids: { readonly etcd: number; readonly apiServer: number };
  /** From spawning etcd to `/readyz` answering `ok`. */
  readonly startupMs: number;
  /**
   * Stops kube-apiserver alone (etcd and its data stay), for outage tests: SIGTERM, then
   * SIGKILL after `graceMs` (default 20 s; a graceful stop holds open watches until then, so
   * 0 makes an abrupt outage). startApiServer() brings it back with the same flags on the same
   * port, and resolves once `/readyz` says ok.
   */
  stopApiServer(options?: { readonly graceMs?: number }): Promise<void>;
  startApiServer(): Promise<void>;
  /**
   * Compacts etcd's history up to its current revision, as the API server itself does every
   * five minutes; answers that revision. With `--watch-cache=false`, a watch that resumes from
   * an older resourceVersion then gets 410 Gone.
   */
  compactEtcd(): Promise<number>;
  /** Stops kube-apiserver, then etcd, then removes the work directory; idempotent. */
  stop(): Promise<void>;
}

// --- no server outlives this process -----------------------------------------------------------
// The kernel kills the servers if this process dies (see processes.ts); these handlers also
// tidy up after a plain exit that skipped stop(). Process-wide by nature, hence module state.

interface Running {
  readonly servers: ServerProcess[];
  readonly workDir: string;
  readonly keepWorkDir: boolean;
}

const running = new Set<Running>();

/** Exit handlers must be synchronous. */
function killRunning(): void {
  for (const cluster of running) {
    for (const server of [...cluster.servers].reverse()) if (!server.exited()) server.child.kill('SIGKILL');
    if (!cluster.keepWorkDir) rmSync(cluster.workDir, { recursive: true, force: true });
  }
  running.clear();
}

function track(cluster: Running): void {
  if (running.size === 0) realProcess().on('exit', killRunning);
  running.add(cluster);
}

function untrack(cluster: Running): void {
  running.delete(cluster);
  if (running.size === 0) realProcess().off('exit', killRunning);
}

// --- start and stop ----------------------------------------------------------------------------------

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const binDir = options.binDir ?? process.env.PORTCULLIS_CLUSTER_BIN ?? (await runBuildScript(BUILD_SCRIPT));
  for (const binary of ['etcd', 'kube-apiserver', 'kubectl']) {
    if (!existsSync(join(binDir, binary))) throw new Error(`${join(binDir, binary)} does not exist; run test/cluster/build.sh, or unset PORTCULLIS_CLUSTER_BIN.`);
  }
  removeAbandonedWorkDirs();
  // Ports are picked free and then released, so another process can take one in between:
  // a start that loses that race is retried on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binDir, options);
    } catch (error) {
      if (attempt < 3 && error instanceof PortTakenError) continue;
      throw error;
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(binDir: string, options: ClusterOptions): Promise<Cluster> {
  const keepWorkDir = options.keepWorkDir ?? false;
  const workDir = mkdtempSync(join(tmpdir(), WORK_DIR_PREFIX));
  // A kept directory has no owner, so removeAbandonedWorkDirs() leaves it alone.
  // Written whole, then renamed: another process sweeping abandoned directories must never read
  // a half-written owner and take this live directory for a dead one.
  if (!keepWorkDir) {
    writeFileSync(join(workDir, 'owner.tmp'), `${process.pid} ${bootId()}\n`);
    renameSync(join(workDir, 'owner.tmp'), join(workDir, 'owner'));
  }
  const pki = join(workDir, 'pki');
  mkdirSync(pki);
  const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const etcdURL = `http://127.0.0.1:${etcdPort}`;
  const peerURL = `http://127.0.0.1:${peerPort}`;
  const server = `https://127.0.0.1:${apiPort}`;
  const handle: Running = { servers: [], workDir, keepWorkDir };
  track(handle);

  const started = performance.now();
  try {
    const etcd = startServer('etcd', join(binDir, 'etcd'), [
      '--name=portcullis-test',
      `--data-dir=${join(workDir, 'etcd')}`,
      `--listen-client-urls=${etcdURL}`,
      `--advertise-client-urls=${etcdURL}`,
      `--listen-peer-urls=${peerURL}`,
      `--initial-advertise-peer-urls=${peerURL}`,
      `--initial-cluster=portcullis-test=${peerURL}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ], join(workDir, 'etcd.log'));
    handle.servers.push(etcd);

    // Certificates while etcd starts.
    const ca = await createCa(pki, 'portcullis-test-ca');
    const [serving, admin, serviceAccountKey] = await Promise.all([
      signLeaf(pki, ca, {
        name: 'apiserver',
        commonName: 'kube-apiserver',
        usage: 'serverAuth',
        // 10.0.0.1 is the `kubernetes` Service's address in --service-cluster-ip-range.
        subjectAltNames: ['IP:127.0.0.1', 'IP:10.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'],
      }),
      signLeaf(pki, ca, { name: 'admin', commonName: 'portcullis-admin', organizations: ['system:masters'], usage: 'clientAuth' }),
      createServiceAccountKey(pki),
    ]);

    const auditLog = join(workDir, 'audit.log');
    const auditPolicy = join(workDir, 'audit-policy.yaml');
    // Metadata: who did what to which object, never a body (no Secret data in the log).
    // One event per request: the RequestReceived stage would double them.
    writeFileSync(auditPolicy, stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata' }] }));

    const apiServerArgs = [
      `--etcd-servers=${etcdURL}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--client-ca-file=${ca.certFile}`,
      `--service-account-key-file=${serviceAccountKey.publicKeyFile}`,
      `--service-account-signing-key-file=${serviceAccountKey.privateKeyFile}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      // Its reconciler refuses a loopback advertise address; tests write their own EndpointSlices.
      '--endpoint-reconciler-type=none',
      `--audit-log-path=${auditLog}`,
      `--audit-policy-file=${auditPolicy}`,
      ...(options.apiServerArgs ?? []),
    ];
    const startApiServerProcess = () => startServer('kube-apiserver', join(binDir, 'kube-apiserver'), apiServerArgs, join(workDir, 'kube-apiserver.log'));
    let apiServer = startApiServerProcess();
    handle.servers.push(apiServer);

    const kubeconfig = join(workDir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfig, { server, caFile: ca.certFile, user: 'portcullis-admin', credentials: admin });
    await waitUntilReady(server, ca, admin, handle.servers);
    const startupMs = Math.round(performance.now() - started);

    let stopping: Promise<void> | undefined;
    return {
      ...clusterOperations({ kubectlBinary: join(binDir, 'kubectl'), server, ca, adminKubeconfig: kubeconfig, workDir, auditLog }),
      server,
      etcdURL,
      binDir,
      workDir,
      kubeconfig,
      admin: { username: 'portcullis-admin', groups: ['system:masters'], kubeconfig, ...admin },
      caFile: ca.certFile,
      auditLog,
      apiServerLog: apiServer.logFile,
      etcdLog: etcd.logFile,
      pids: {
        etcd: etcd.pid,
        get apiServer() {
          return apiServer.pid;
        },
      },
      startupMs,
      async stopApiServer(stopOptions = {}) {
        await apiServer.stop(stopOptions.graceMs ?? API_SERVER_GRACE_MS);
      },
      async startApiServer() {
        if (!apiServer.exited()) return;
        apiServer = startApiServerProcess();
        handle.servers[1] = apiServer;
        await waitUntilReady(server, ca, admin, handle.servers);
      },
      compactEtcd: () => compactEtcd(etcdURL),
      stop() {
        stopping ??= stopServers(handle);
        return stopping;
      },
    };
  } catch (error) {
    await stopServers(handle);
    throw error;
  }
}

/**
 * kube-apiserver first: on SIGTERM it deletes its lease in etcd and, with etcd already
 * gone, waits about ten seconds for that request to time out.
 */
async function stopServers(handle: Running): Promise<void> {
  const [etcd, apiServer] = handle.servers;
  try {
    await apiServer?.stop(API_SERVER_GRACE_MS);
    await etcd?.stop(ETCD_GRACE_MS);
  } finally {
    if (!handle.keepWorkDir) rmSync(handle.workDir, { recursive: true, force: true });
    untrack(handle);
  }
}

/** Resolves once `/readyz` says ok; throws with the log of a server that exits first. */
async function waitUntilReady(server: string, ca: KeyPair, admin: KeyPair, servers: readonly ServerProcess[]): Promise<void> {
  const tls = { ca: readFileSync(ca.certFile), cert: readFileSync(admin.certFile), key: readFileSync(admin.keyFile) };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const dead = servers.find((s) => s.exited());
    if (dead !== undefined) {
      const tail = dead.logTail();
      const message = `${dead.name} exited before the API server was ready (${dead.child.exitCode ?? dead.child.signalCode}):\n${tail}`;
      throw /address already in use/.test(tail) ? new PortTakenError(message) : new Error(message);
    }
    const answer = await httpsGet(`${server}/readyz`, tls).catch((error: Error) => ({ status: 0, body: error.message }));
    if (answer.status === 200) return;
    last = `${answer.status} ${answer.body.slice(0, 500)}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`kube-apiserver not ready within ${READY_TIMEOUT_MS / 1000} s; last /readyz answer: ${last}\n${servers.at(-1)?.logTail() ?? ''}`);
}

// --- helpers -----------------------------------------------------------------------------------------

/** Through etcd's JSON gateway (`/v3/…`, on by default): read the current revision, compact up to it. */
async function compactEtcd(etcdURL: string): Promise<number> {
  const post = async (path: string, body: object): Promise<Record<string, unknown>> => {
    const response = await fetch(`${etcdURL}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await response.text();
    if (!response.ok) throw new Error(`etcd ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
  const revision = Number((range.header as { revision?: string } | undefined)?.revision);
  if (!Number.isInteger(revision) || revision < 1) throw new Error(`etcd answered no revision: ${JSON.stringify(range)}`);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}

/**
 * Runs a build script of ours (test/cluster/build.sh, test/cluster/helm/build.sh: a cache hit
 * returns at once; progress goes to stderr) and answers the bin directory it prints last.
 */
export async function runBuildScript(script: string): Promise<string> {
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const bin = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || bin === '') throw new Error(`${script} exited with ${code}; see its output above.`);
  return bin;
}

function httpsGet(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 5_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}


/** Work directories of test processes that died without stop() (their servers died with them). */
function removeAbandonedWorkDirs(): void {
  const parent = tmpdir();
  for (const entry of readdirSync(parent)) {
    if (!entry.startsWith(WORK_DIR_PREFIX)) continue;
    const dir = join(parent, entry);
    let owner: string;
    try {
      owner = readFileSync(join(dir, 'owner'), 'utf8');
    } catch {
      continue;
    }
    const [pid, boot] = owner.trim().split(' ');
    if (pid === undefined || boot === undefined || !/^\d+$/.test(pid)) continue; // not ours to judge
    if (boot !== bootId() || !isAlive(Number(pid))) rmSync(dir, { recursive: true, force: true });
  }
}
