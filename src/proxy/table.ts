// The table in force, and how a new one comes into force: compile → auth sync → one reference
// assignment. Requests in flight keep the table they started with; a bad object never takes
// the table down (compile() gives it a status condition and serves everything else).
import { compile, type CompileResult } from '../compile/compile.ts';
import { EMPTY_SNAPSHOT, type CompileOptions, type Snapshot } from '../model/snapshot.ts';
import type { RouteTable } from '../model/table.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

export interface TableHolderOptions {
  readonly compileOptions: CompileOptions;
  /** Brings providers and signature caches in line with a table (the auth runtime). */
  readonly auth: { sync(table: RouteTable): void };
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface TableHolder {
  /** The table in force: the empty table until the first apply(). */
  current(): RouteTable;
  /** Whether a snapshot has been applied (/readyz). */
  loaded(): boolean;
  /** Compiles a snapshot and puts the table in force; the result carries the statuses. */
  apply(snapshot: Snapshot): CompileResult;
}

export function createTableHolder(options: TableHolderOptions): TableHolder {
  const { compileOptions, auth, logger, metrics } = options;
  let table: RouteTable = compile(EMPTY_SNAPSHOT, compileOptions).table;
  let loaded = false;
  let warnedGeneratedKey = false;

  return {
    current: () => table,
    loaded: () => loaded,
    apply(snapshot) {
      const started = performance.now();
      const result = compile(snapshot, compileOptions);
      auth.sync(result.table); // providers and caches first, so the new table's policies are known when it serves
      table = result.table; // one assignment: requests in flight keep the table they started with
      loaded = true;
      if (!warnedGeneratedKey && [...result.table.policies.values()].some((p) => p.browser?.session.generatedKey)) {
        warnedGeneratedKey = true;
        logger.warn('No browser.session.secretRef: generated a session key for this process; sessions end when it stops, and other processes cannot read them.');
      }
      const compileMs = performance.now() - started;
      metrics.tableApplied(compileMs / 1000);
      logger.info({ rules: result.table.rules.length, policies: result.table.policies.size, compileMs: Math.round(compileMs * 100) / 100 }, 'table applied');
      return result;
    },
  };
}
