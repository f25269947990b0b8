// What tests do with a running control plane, through the kubectl that build.sh built from
// the same release as the server: run commands as any identity, apply manifests and the
// CRDs, make namespaces, ServiceAccounts and client certificates, read the audit log.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeKubeconfig } from './kubeconfig.ts';
import { signLeaf, type KeyPair } from './pki.ts';

export const CRD_DIR = join(import.meta.dirname, '..', '..', 'crds');

/** Someone the API server authenticates, with a kubeconfig that authenticates as them. */
export interface Identity {
  readonly username: string;
  /** As configured; the API server adds `system:authenticated`. */
  readonly groups: readonly string[];
  readonly kubeconfig: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `-f -`). */
  readonly input?: string;
  /**
   * Whom kubectl authenticates as: an Identity uses its own kubeconfig (real credentials);
   * a user name is impersonated by the admin (`--as`), which is enough for `auth can-i`.
   */
  readonly asUser?: Identity | string;
}

export interface KubectlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One line of the audit log (level Metadata, stage ResponseComplete): the fields tests read. */
export interface AuditEvent {
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly user: { readonly username: string; readonly groups?: readonly string[] };
  readonly impersonatedUser?: { readonly username: string; readonly groups?: readonly string[] };
  readonly objectRef?: { readonly resource?: string; readonly subresource?: string; readonly namespace?: string; readonly name?: string; readonly apiGroup?: string };
  readonly responseStatus?: { readonly code?: number };
}

export interface ClusterOperations {
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** `kubectl apply -f -` of objects or YAML text; throws with kubectl's stderr on failure. */
  apply(manifests: string | readonly object[], options?: { readonly namespace?: string; readonly asUser?: Identity | string }): Promise<void>;
  /** Applies crds/ and waits until every CRD there is Established. */
  applyCrds(): Promise<void>;
  /** Creates the namespace and its `default` ServiceAccount (no controller-manager makes one), if missing. */
  ensureNamespace(name: string): Promise<void>;
  /** A ServiceAccount (created with its namespace if missing) and a kubeconfig with a token for it (default: valid one hour). */
  serviceAccount(namespace: string, name: string, options?: { readonly durationSeconds?: number }): Promise<Identity>;
  /** A client certificate for any user and groups, and a kubeconfig that presents it. */
  clientCertificate(username: string, groups?: readonly string[]): Promise<Identity & KeyPair>;
  /** The audit log so far; a request's event can land a few milliseconds after its response. */
  auditEvents(): AuditEvent[];
}

export interface OperationsContext {
  readonly kubectlBinary: string;
  readonly server: string;
  readonly ca: KeyPair;
  readonly adminKubeconfig: string;
  /** Where new certificates and kubeconfigs go. */
  readonly workDir: string;
  readonly auditLog: string;
}

export function clusterOperations(context: OperationsContext): ClusterOperations {
  const { server, ca, adminKubeconfig, workDir } = context;
  // A cache of our own: kubectl's default one is keyed by host:port, and a later cluster on
  // the same port would be answered from the discovery of an earlier one.
  const cacheDir = join(workDir, 'kubectl-cache');

  const kubectl = (args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> => {
    const { asUser } = options;
    const identity = asUser === undefined ? ['--kubeconfig', adminKubeconfig] : typeof asUser === 'string' ? ['--kubeconfig', adminKubeconfig, `--as=${asUser}`] : ['--kubeconfig', asUser.kubeconfig];
    return runKubectl(context.kubectlBinary, [...identity, `--cache-dir=${cacheDir}`, ...args], options.input);
  };

  const mustKubectl = async (args: readonly string[], options: KubectlOptions = {}): Promise<string> => {
    const result = await kubectl(args, options);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
    return result.stdout;
  };

  // `create`, not apply, for objects that may exist: apply would add a last-applied
  // annotation a test might trip over. Two tests creating the same object at once both win.
  const createIfMissing = async (getArgs: readonly string[], createArgs: readonly string[]): Promise<void> => {
    if ((await kubectl(['get', ...getArgs, '-o', 'name'])).code === 0) return;
    const result = await kubectl(['create', ...createArgs]);
    if (result.code !== 0 && !/AlreadyExists|already exists/.test(result.stderr)) throw new Error(`kubectl create ${createArgs.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
  };

  const ensureNamespace = async (name: string): Promise<void> => {
    await createIfMissing(['namespace', name], ['namespace', name]);
    await createIfMissing(['serviceaccount', 'default', '-n', name], ['serviceaccount', 'default', '-n', name]);
  };

  return {
    kubectl,

    async apply(manifests, options = {}) {
      const input = typeof manifests === 'string' ? manifests : manifests.map((m) => stringify(m)).join('---\n');
      const namespace = options.namespace === undefined ? [] : ['-n', options.namespace];
      await mustKubectl(['apply', '-f', '-', ...namespace], { input, ...(options.asUser === undefined ? {} : { asUser: options.asUser }) });
    },

    async applyCrds() {
      await mustKubectl(['apply', '-f', CRD_DIR]);
      const names = (await mustKubectl(['get', '-f', CRD_DIR, '-o', 'name'])).trim().split('\n');
      await mustKubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
      // Discovery cached before the CRDs existed would hide them from `kubectl explain`.
      rmSync(cacheDir, { recursive: true, force: true });
    },

    ensureNamespace,

    async serviceAccount(namespace, name, options = {}) {
      await ensureNamespace(namespace);
      await createIfMissing(['serviceaccount', name, '-n', namespace], ['serviceaccount', name, '-n', namespace]);
      const token = (await mustKubectl(['create', 'token', name, '-n', namespace, `--duration=${options.durationSeconds ?? 3600}s`])).trim();
      const username = `system:serviceaccount:${namespace}:${name}`;
      const kubeconfig = join(workDir, `sa-${namespace}-${name}-${randomBytes(4).toString('hex')}.kubeconfig`);
      writeKubeconfig(kubeconfig, { server, caFile: ca.certFile, user: username, credentials: { token }, namespace });
      return { username, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`], kubeconfig };
    },

    async clientCertificate(username, groups = []) {
      const stem = `user-${randomBytes(6).toString('hex')}`;
      const pair = await signLeaf(join(workDir, 'pki'), ca, { name: stem, commonName: username, organizations: groups, usage: 'clientAuth' });
      const kubeconfig = join(workDir, `${stem}.kubeconfig`);
      writeKubeconfig(kubeconfig, { server, caFile: ca.certFile, user: username, credentials: pair });
      return { username, groups, kubeconfig, ...pair };
    },

    auditEvents() {
      const text = existsSync(context.auditLog) ? readFileSync(context.auditLog, 'utf8') : '';
      return text
        .split('\n')
        .filter((line) => line.endsWith('}')) // the last line may be half written
        .map((line) => JSON.parse(line) as AuditEvent);
    },
  };
}

export function runKubectl(binary: string, args: readonly string[], input: string | undefined): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    // KUBECONFIG emptied: every call names its kubeconfig, and the caller's must not leak in.
    const child = execFile(binary, args, { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, KUBECONFIG: '' } }, (error, stdout, stderr) => {
      // A string code (ENOENT, …) means kubectl never ran; a null one, that a signal ended it.
      if (error === null) resolve({ code: 0, stdout, stderr });
      else if (typeof error.code === 'string') reject(error);
      else resolve({ code: error.code ?? null, stdout, stderr });
    });
    // kubectl may exit before it reads its input (e.g. a `get` that reads none): the pipe breaks,
    // and its exit status still arrives through the callback above.
    child.stdin?.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin?.end(input ?? '');
  });
}
