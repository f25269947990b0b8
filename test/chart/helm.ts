// helm for the chart tests: the binary that test/cluster/helm/build.sh builds from the Go module
// (from $PORTCULLIS_HELM_BIN, else build.sh, which answers from its cache at once or builds for
// about two minutes on a cold machine), run with its own throw-away home so that nothing is read
// from or written to the user's helm configuration.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/cli.ts';
import { runBuildScript } from '../cluster/harness.ts';

export const CHART_DIR = join(REPO_ROOT, 'charts', 'portcullis');
export const VALUES_DIR = join(import.meta.dirname, 'values');
export const BAD_VALUES_DIR = join(VALUES_DIR, 'bad');
export const HELM_BUILD_SCRIPT = join(REPO_ROOT, 'test', 'cluster', 'helm', 'build.sh');

/** For beforeAll: room for a cold build (about two minutes, more on a busy machine). */
export const HELM_BUILD_TIMEOUT_MS = 10 * 60_000;

/** The values files the chart is rendered, linted and installed with, besides its defaults. */
export const VALUES_FILES: readonly string[] = readdirSync(VALUES_DIR)
  .filter((name) => name.endsWith('.yaml'))
  .sort();

export interface HelmResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Helm {
  readonly binary: string;
  /** `helm.sh/helm/v3` module version, from the build's versions.env. */
  readonly version: string;
  run(args: readonly string[], options?: { readonly kubeconfig?: string }): Promise<HelmResult>;
  /** Runs helm and answers stdout; throws with stderr when it fails. */
  must(args: readonly string[], options?: { readonly kubeconfig?: string }): Promise<string>;
  /** Removes the throw-away helm home. */
  close(): void;
}

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

export async function startHelm(): Promise<Helm> {
  const binDir = process.env.PORTCULLIS_HELM_BIN ?? (await runBuildScript(HELM_BUILD_SCRIPT));
  const binary = join(binDir, 'helm');
  if (!existsSync(binary)) throw new Error(`${binary} does not exist; run test/cluster/helm/build.sh, or unset PORTCULLIS_HELM_BIN.`);
  const versions = readFileSync(join(binDir, 'versions.env'), 'utf8');
  const version = /^HELM_VERSION=(.*)$/m.exec(versions)?.[1] ?? 'unknown';
  const home = mkdtempSync(join(tmpdir(), 'portcullis-helm-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    // Never the user's cluster: every command that needs one names its kubeconfig.
    KUBECONFIG: join(home, 'no-cluster.kubeconfig'),
  };
  const run = (args: readonly string[], options: { readonly kubeconfig?: string } = {}): Promise<HelmResult> =>
    new Promise((resolve, reject) => {
      const fullArgs = options.kubeconfig === undefined ? [...args] : [...args, '--kubeconfig', options.kubeconfig];
      execFile(binary, fullArgs, { env, cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') return reject(error);
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      });
    });
  return {
    binary,
    version,
    run,
    async must(args, options) {
      const result = await run(args, options);
      if (result.code !== 0) throw new Error(`helm ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
      return result.stdout;
    },
    close() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Every object in a multi-document YAML stream (empty documents left out). */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0];
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

export function findObject(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found === undefined) throw new Error(`No ${kind}${name === undefined ? '' : ` ${name}`} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}.`);
  return found;
}

