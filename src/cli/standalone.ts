// `portcullis standalone`: serves the manifests of files and folders, re-reading them on change.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { compile } from '../compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, EMPTY_SNAPSHOT, type CompileOptions } from '../compile/snapshot.ts';
import type { RouteTable } from '../model/table.ts';
import type { Logger } from '../observability/logger.ts';
import { buildOps } from '../observability/ops.ts';
import { createUndiciForwarder } from '../proxy/forward/index.ts';
import { createAuthRuntime } from '../auth/runtime.ts';
import { trustedPeers } from '../proxy/headers.ts';
import { createPipeline, DEFAULT_TIMEOUTS } from '../proxy/pipeline.ts';
import { buildProxy } from '../proxy/server.ts';
import { toSnapshot } from '../sources/manifests.ts';
import { watchManifests, type ManifestState } from '../sources/standalone.ts';
import { listenURL } from './listen.ts';

export interface StandaloneOptions {
  readonly paths: readonly string[];
  readonly listen: { host: string | undefined; port: number };
  readonly opsListen: { host: string | undefined; port: number };
  readonly trustedProxies: readonly string[];
  readonly logger: Logger;
  /** How often provider discovery and keys are refetched (default 10 min). */
  readonly providerRefreshMs?: number;
  /** Verified signatures kept per policy; 0 turns the cache off. */
  readonly signatureCacheSize?: number;
}

export interface RunningStandalone {
  readonly proxyURL: string;
  readonly opsURL: string;
  table(): RouteTable;
  close(): Promise<void>;
}

export async function runStandalone(options: StandaloneOptions): Promise<RunningStandalone> {
  const { logger } = options;
  const compileOptions: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, mode: 'standalone', generatedSessionKey: randomBytes(32).toString('base64url') };
  let table: RouteTable = compile(EMPTY_SNAPSHOT, compileOptions).table;
  let loaded = false;
  let draining = false;
  let warnedGeneratedKey = false;
  const auth = createAuthRuntime({ logger, refreshMs: options.providerRefreshMs, cacheSize: options.signatureCacheSize });

  const apply = (state: ManifestState) => {
    const started = performance.now();
    const result = compile(toSnapshot(state.objects, state.problems, compileOptions.defaultNamespace), compileOptions);
    auth.sync(result.table); // providers and caches first, so the new table's policies are known when it serves
    table = result.table; // one assignment: requests in flight keep the table they started with
    loaded = true;
    for (const problem of state.problems) {
      for (const issue of problem.issues) {
        logger.warn({ file: problem.file, line: problem.line, kind: problem.kind, name: problem.name, field: issue.field }, `manifest problem: ${issue.message}`);
      }
    }
    for (const status of result.statuses) {
      for (const condition of status.conditions) {
        if (condition.status !== 'True') logger.warn({ object: `${status.kind} ${status.namespace}/${status.name}`, condition: condition.type, reason: condition.reason }, condition.message);
      }
    }
    if (!warnedGeneratedKey && [...result.table.policies.values()].some((p) => p.browser?.session.generatedKey)) {
      warnedGeneratedKey = true;
      logger.warn('No browser.session.secretRef: generated a session key for this process; sessions end when it stops, and other processes cannot read them.');
    }
    logger.info({ files: state.files.length, rules: result.table.rules.length, policies: result.table.policies.size, compileMs: Math.round((performance.now() - started) * 100) / 100 }, 'table applied');
  };

  const watcher = watchManifests({
    paths: options.paths,
    defaultNamespace: compileOptions.defaultNamespace,
    onChange: apply,
    onError: (error) => logger.error({ err: error }, 'reading manifests failed; the last good table keeps serving'),
  });
  apply(await watcher.load());

  const forwarder = createUndiciForwarder();
  const pipeline = createPipeline({
    table: () => table,
    forwarder,
    guard: auth,
    logger,
    trustedPeers: trustedPeers(options.trustedProxies),
    scheme: 'http',
    timeouts: DEFAULT_TIMEOUTS,
  });
  const proxy = buildProxy(pipeline);
  const ops = buildOps({ ready: () => (draining ? { ready: false, reason: 'draining' } : loaded ? { ready: true, reason: 'table loaded' } : { ready: false, reason: 'loading' }) });
  await proxy.listen({ host: options.listen.host ?? '::', port: options.listen.port });
  await ops.listen({ host: options.opsListen.host ?? '::', port: options.opsListen.port });
  const proxyURL = listenURL(proxy.server.address() as AddressInfo);
  const opsURL = listenURL(ops.server.address() as AddressInfo);
  logger.info({ proxy: proxyURL, ops: opsURL }, 'listening');

  return {
    proxyURL,
    opsURL,
    table: () => table,
    async close() {
      draining = true;
      watcher.close();
      await Promise.all([proxy.close(), ops.close()]);
      await forwarder.close();
      await auth.close();
    },
  };
}
