// The harness itself: who the API server says each identity is, what RBAC lets a
// least-privilege identity do, what the audit log records, and that stopping leaves nothing
// behind, whether by stop() or by the test process exiting or dying.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { retry } from './async.ts';
import { CLUSTER_START_TIMEOUT_MS, startCluster, type Cluster, type Identity } from './harness.ts';

let cluster: Cluster;

beforeAll(async () => {
  // Kept, so the last test can read the logs after stop(); afterAll removes it.
  cluster = await startCluster({ keepWorkDir: true });
}, CLUSTER_START_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
  if (cluster !== undefined) rmSync(cluster.workDir, { recursive: true, force: true });
});

async function whoami(asUser?: Identity): Promise<{ username: string; groups: string[] }> {
  const result = await cluster.kubectl(['auth', 'whoami', '-o', 'json'], asUser === undefined ? {} : { asUser });
  expect(result.stderr).toBe('');
  const { username, groups } = (JSON.parse(result.stdout) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
  return { username, groups };
}

describe('startCluster', () => {
  it('serves on loopback, with the versions build.sh pinned, in seconds', async () => {
    expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const versions = readFileSync(join(cluster.binDir, 'versions.env'), 'utf8');
    const version = JSON.parse((await cluster.kubectl(['version', '-o', 'json'])).stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    expect(versions).toContain(`KUBERNETES_VERSION=${version.serverVersion.gitVersion}\n`);
    expect(version.clientVersion.gitVersion).toBe(version.serverVersion.gitVersion);
    expect(cluster.startupMs).toBeLessThan(30_000);
  });

  it('gives the admin a client certificate in system:masters', async () => {
    expect(await whoami()).toEqual({ username: 'portcullis-admin', groups: ['system:masters', 'system:authenticated'] });
    expect(cluster.admin).toMatchObject({ username: 'portcullis-admin', groups: ['system:masters'], kubeconfig: cluster.kubeconfig });
  });

  it('creates a namespace with its default ServiceAccount, and again without complaint', async () => {
    await cluster.ensureNamespace('team-a');
    await cluster.ensureNamespace('team-a');
    expect((await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', 'team-a', '-o', 'name'])).stdout.trim()).toBe('serviceaccount/default');
  });
});

describe('identities', () => {
  it('authenticates a ServiceAccount by token, with only the permissions RBAC grants it', async () => {
    const controller = await cluster.serviceAccount('team-b', 'controller');
    expect(await whoami(controller)).toEqual({
      username: 'system:serviceaccount:team-b:controller',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team-b', 'system:authenticated'],
    });
    expect(controller.username).toBe('system:serviceaccount:team-b:controller');

    expect((await cluster.kubectl(['get', 'configmaps', '-n', 'team-b'], { asUser: controller })).stderr).toMatch(/Forbidden/);
    await cluster.apply(
      [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'read-configmaps' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'controller-reads-configmaps' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
          subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: 'team-b' }],
        },
      ],
      { namespace: 'team-b' },
    );
    expect(await cluster.kubectl(['get', 'configmaps', '-n', 'team-b', '-o', 'name'], { asUser: controller })).toMatchObject({ code: 0 });
    expect((await cluster.kubectl(['get', 'secrets', '-n', 'team-b'], { asUser: controller })).stderr).toMatch(/Forbidden/);
    // Impersonation by name, for quick questions.
    expect((await cluster.kubectl(['auth', 'can-i', 'list', 'configmaps', '-n', 'team-b'], { asUser: controller.username })).stdout.trim()).toBe('yes');
  });

  it('authenticates any user and groups by client certificate', async () => {
    const alice = await cluster.clientCertificate('alice@example.com', ['auditors', 'team/a']);
    expect(await whoami(alice)).toEqual({ username: 'alice@example.com', groups: ['auditors', 'team/a', 'system:authenticated'] });
    expect((await cluster.kubectl(['get', 'namespaces'], { asUser: alice })).stderr).toMatch(/Forbidden/);
    // Not the built-in `view`: it is aggregated, and without controller-manager it stays empty.
    await cluster.apply([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'list-pods' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'auditors-list-pods' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'list-pods' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'auditors' }],
      },
    ]);
    expect(await cluster.kubectl(['get', 'pods', '-A'], { asUser: alice })).toMatchObject({ code: 0 });
  });
});

describe('the audit log', () => {
  it('records each request once, with who made it, the verb, the object and the answer', async () => {
    const reader = await cluster.serviceAccount('team-c', 'reader');
    await cluster.kubectl(['get', 'secrets', '-n', 'team-c'], { asUser: reader });
    const events = await retry(async () => {
      const found = cluster.auditEvents().filter((e) => e.user.username === reader.username && e.objectRef?.resource === 'secrets');
      if (found.length === 0) throw new Error(`No audit event for ${reader.username} in ${cluster.auditLog}.`);
      return found;
    });
    expect(events).toEqual([
      expect.objectContaining({ stage: 'ResponseComplete', verb: 'list', objectRef: expect.objectContaining({ resource: 'secrets', namespace: 'team-c' }), responseStatus: expect.objectContaining({ code: 403 }) }),
    ]);
    expect(readFileSync(cluster.auditLog, 'utf8')).not.toContain('"requestObject"');
  });
});

describe('stopping', () => {
  it('ends etcd and kube-apiserver when the test process exits, or dies, without stop()', async () => {
    const [exited, killed] = await Promise.all([startInChild('exit'), startInChild('kill')]);
    for (const child of [exited, killed]) {
      await retry(async () => {
        const alive = child.pids.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '));
        if (alive.length > 0) throw new Error(`Still running after the ${child.how} of their test process: ${alive.join(', ')}.`);
      }, { timeoutMs: 10_000 });
    }
    // An exit handler removes the work directory; after SIGKILL the next start does.
    expect(existsSync(exited.workDir)).toBe(false);
    await startCluster().then((c) => c.stop());
    expect(existsSync(killed.workDir)).toBe(false);
  }, CLUSTER_START_TIMEOUT_MS);

  // Last: it stops the cluster of this file.
  it('stops kube-apiserver before etcd, quickly, and is idempotent', async () => {
    const etcdPort = new URL(cluster.etcdURL).port;
    const started = performance.now();
    await Promise.all([cluster.stop(), cluster.stop()]);
    // Stopping etcd first would leave kube-apiserver retrying it for about ten seconds.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(readFileSync(cluster.apiServerLog, 'utf8')).not.toMatch(new RegExp(`127\\.0\\.0\\.1:${etcdPort}.*connection refused`));
    expect((await cluster.kubectl(['get', '--raw', '/readyz'])).code).not.toBe(0);
  });
});

interface ChildCluster {
  readonly how: 'exit' | 'kill';
  readonly pids: readonly number[];
  readonly workDir: string;
}

/** Starts a cluster in a child process that then exits (exit handlers run) or is SIGKILLed (none run). */
async function startInChild(how: 'exit' | 'kill'): Promise<ChildCluster> {
  const harness = new URL('./harness.ts', import.meta.url).href;
  const script = `
    import { startCluster } from ${JSON.stringify(harness)};
    const cluster = await startCluster();
    console.log(JSON.stringify({ pids: Object.values(cluster.pids), workDir: cluster.workDir }));
    if (${JSON.stringify(how)} === 'exit') process.exit(3); else process.kill(process.pid, 'SIGKILL');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  await new Promise((resolve) => child.once('close', resolve));
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const { pids, workDir } = JSON.parse(line) as { pids: number[]; workDir: string };
  expect(pids).toHaveLength(2);
  return { how, pids, workDir };
}
