// `portcullis standalone`: serves the manifests of files and folders, re-reading them on change.
import { randomBytes } from 'node:crypto';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../model/snapshot.ts';
import type { RouteTable } from '../model/table.ts';
import { errorFields } from '../observability/logger.ts';
import { toSnapshot } from '../sources/manifests.ts';
import { watchManifests, type ManifestState } from '../sources/standalone.ts';
import { createProblemReporter } from '../status/problems.ts';
import { assertionKeysFromFile } from './assertion-keys.ts';
import { startServing, type ServeOptions, type Serving } from './serve.ts';

export interface StandaloneOptions extends Omit<ServeOptions, 'compileOptions' | 'assertion'> {
  readonly paths: readonly string[];
  /** The `iss` of X-Portcullis-Assertion. */
  readonly assertionIssuer: string;
  /** A PEM file of the keys that sign it; without one, a key generated at start. */
  readonly assertionKeyFile?: string;
}

export interface RunningStandalone {
  readonly proxyURL: string;
  readonly opsURL: string;
  table(): RouteTable;
  close(): Promise<void>;
}

export async function runStandalone(options: StandaloneOptions): Promise<RunningStandalone> {
  const { logger } = options;
  const assertionKeys = assertionKeysFromFile(options.assertionKeyFile, logger);
  // Without browser.session.secretRef, this process's own key: sessions end with it.
  const compileOptions: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, mode: 'standalone', generatedSessionKey: randomBytes(32).toString('base64url') };
  let serving: Serving | null = null;
  let early: ManifestState | null = null;
  const problems = createProblemReporter(logger);
  const watcher = watchManifests({
    paths: options.paths,
    defaultNamespace: compileOptions.defaultNamespace,
    // A change seen before the listeners are up is applied as soon as they are.
    onChange: (state) => (serving === null ? (early = state) : apply(serving, state)),
    onError: (error) => logger.error({ err: errorFields(error) }, 'reading manifests failed; the last good table keeps serving'),
  });
  const loaded = await watcher.load();
  const started = await startServing({ ...options, compileOptions, assertion: { issuer: options.assertionIssuer, keys: assertionKeys } });
  serving = started;
  apply(started, early ?? loaded);

  function apply(serving: Serving, state: ManifestState): void {
    const result = serving.apply(toSnapshot(state.objects, state.problems, compileOptions.defaultNamespace));
    // What `validate` would say, as log lines: each manifest problem, each condition not True,
    // when it appears and when it is gone.
    problems.report(state.problems, result.statuses);
    logger.info({ files: state.files.length, changed: state.changed }, 'manifests read');
  }
  return {
    proxyURL: started.proxyURL,
    opsURL: started.opsURL,
    table: started.table,
    async close() {
      watcher.close();
      await started.close();
    },
  };
}
