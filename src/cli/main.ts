// The composition root: parses the command line and builds each mode from its parts.
import { parseArgs } from 'node:util';
import { DURATION_PATTERN, durationToMs } from '../api/common.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { parseListen } from './listen.ts';
import { runDemo } from './demo.ts';
import { runStandalone } from './standalone.ts';
import { validate } from './validate.ts';

const USAGE = `Usage:
  portcullis standalone -f <file|dir> [-f …] [--listen host:port] [--listen-tls host:port] [--ops-listen host:port]
  portcullis validate -f <file|dir> [-f …] [--mode standalone|controller] [--check-providers]
  portcullis demo [--port 9080] [--provider-port 9000] [--upstream-port 9081] [--ops-port 9082]
  portcullis controller [--kubeconfig path] [--namespace ns …] [--class name] [--listen host:port] [--listen-tls host:port] [--ops-listen host:port]
                        [--https-redirect-port port]
                        [--allow-local-backends] [--allowed-backend-host host …] [--trust-proxy addr …]
                        [--leader-election-namespace ns] [--leader-election-lease name] [--no-leader-election]
                        [--leader-election-lease-duration 15s] [--leader-election-renew-deadline 10s] [--leader-election-retry-period 2s]
                        [--rebuild-holdoff 50ms] [--rebuild-max-holdoff 500ms] [--drain-delay 5s] [--shutdown-timeout 25s]
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate': {
      const { values } = parseArgs({
        args: [...rest],
        options: { file: { type: 'string', short: 'f', multiple: true }, mode: { type: 'string', default: 'standalone' }, 'check-providers': { type: 'boolean', default: false } },
        strict: true,
      });
      if (!values.file?.length) throw new UsageError('validate needs at least one -f <file|dir>.');
      if (values.mode !== 'standalone' && values.mode !== 'controller') throw new UsageError('--mode is standalone or controller.');
      const report = await validate(values.file, values.mode, { checkProviders: values['check-providers'] });
      process.stdout.write(`${report.text}\n`);
      return report.ok ? 0 : 1;
    }
    case 'standalone': {
      const { values } = parseArgs({
        args: [...rest],
        options: {
          file: { type: 'string', short: 'f', multiple: true },
          // A single process on a laptop has no load balancer to tell; in a cluster, drain.
          ...servingFlags('0s'),
        },
        strict: true,
      });
      if (!values.file?.length) throw new UsageError('standalone needs at least one -f <file|dir>.');
      const logger = createLogger({ level: values['log-level'] });
      const running = await runStandalone({ paths: values.file, ...servingOptions(values), logger });
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping');
      await running.close();
      return exitAfterFlush(logger, 0);
    }
    case 'controller': {
      const { values } = parseArgs({
        args: [...rest],
        options: {
          kubeconfig: { type: 'string' },
          namespace: { type: 'string', short: 'n', multiple: true, default: [] },
          class: { type: 'string', default: 'portcullis' },
          'allow-local-backends': { type: 'boolean', default: false },
          'allowed-backend-host': { type: 'string', multiple: true },
          'leader-election': { type: 'boolean', default: true },
          'leader-election-namespace': { type: 'string' },
          'leader-election-lease': { type: 'string' },
          'leader-election-lease-duration': { type: 'string', default: '15s' },
          'leader-election-renew-deadline': { type: 'string', default: '10s' },
          'leader-election-retry-period': { type: 'string', default: '2s' },
          'rebuild-holdoff': { type: 'string', default: '50ms' },
          'rebuild-max-holdoff': { type: 'string', default: '500ms' },
          // A pod behind a Service: keep serving while endpoints controllers and load balancers catch up.
          ...servingFlags('5s'),
        },
        allowNegative: true,
        strict: true,
      });
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(values.class) || values.class.length > 253) throw new UsageError('--class takes a lower-case name such as portcullis.');
      const election = {
        enabled: values['leader-election'],
        namespace: values['leader-election-namespace'],
        lease: values['leader-election-lease'],
        leaseDurationMs: parseDuration(values['leader-election-lease-duration'], '--leader-election-lease-duration'),
        renewDeadlineMs: parseDuration(values['leader-election-renew-deadline'], '--leader-election-renew-deadline'),
        retryPeriodMs: parseDuration(values['leader-election-retry-period'], '--leader-election-retry-period'),
      };
      if (!(election.retryPeriodMs < election.renewDeadlineMs && election.renewDeadlineMs < election.leaseDurationMs)) {
        throw new UsageError('Leader election needs retry period < renew deadline < lease duration.');
      }
      const logger = createLogger({ level: values['log-level'] });
      // Loaded here, not at the top: @kubernetes/client-node takes about 0.4 s and 90 MB to
      // import, which no other mode should pay.
      const { DEFAULT_LEADER_ELECTION, runController } = await import('./controller.ts');
      const running = await runController({
        kubeconfig: values.kubeconfig,
        namespaces: values.namespace,
        className: values.class,
        ...servingOptions(values),
        allowLocalBackends: values['allow-local-backends'],
        allowedBackendHosts: values['allowed-backend-host'] ?? null,
        leaderElection: { ...DEFAULT_LEADER_ELECTION, ...election },
        holdoffMs: parseDuration(values['rebuild-holdoff'], '--rebuild-holdoff'),
        maxHoldoffMs: parseDuration(values['rebuild-max-holdoff'], '--rebuild-max-holdoff'),
        logger,
      });
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping');
      await running.close();
      return exitAfterFlush(logger, 0);
    }
    case 'demo': {
      const { values } = parseArgs({
        args: [...rest],
        options: {
          port: { type: 'string', default: '9080' },
          'ops-port': { type: 'string', default: '9082' },
          'provider-port': { type: 'string', default: '9000' },
          'upstream-port': { type: 'string', default: '9081' },
          'log-level': { type: 'string', default: 'info' },
        },
        strict: true,
      });
      const logger = createLogger({ level: values['log-level'] });
      const demo = await runDemo({
        proxyPort: parseCount(values.port, '--port'),
        opsPort: parseCount(values['ops-port'], '--ops-port'),
        providerPort: parseCount(values['provider-port'], '--provider-port'),
        upstreamPort: parseCount(values['upstream-port'], '--upstream-port'),
        logger,
      });
      process.stderr.write(demo.instructions);
      await untilSignal();
      await demo.close();
      logger.flush();
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`Unknown command ${JSON.stringify(command)}.`);
  }
}

/** The flags of the data plane, the same for `standalone` and `controller`. */
function servingFlags(drainDelay: string) {
  return {
    listen: { type: 'string', default: ':8080' },
    'listen-tls': { type: 'string' },
    'https-redirect-port': { type: 'string' },
    'ops-listen': { type: 'string', default: ':8081' },
    'trust-proxy': { type: 'string', multiple: true, default: [] as string[] },
    'log-level': { type: 'string', default: 'info' },
    'provider-refresh': { type: 'string', default: '10m' },
    'signature-cache-size': { type: 'string', default: '10000' },
    'drain-delay': { type: 'string', default: drainDelay },
    'shutdown-timeout': { type: 'string', default: '25s' },
    // Slow clients (issue 13): see ServeOptions.
    'client-body-buffer-size': { type: 'string', default: '1048576' },
    'client-body-timeout': { type: 'string', default: '60s' },
    'send-timeout': { type: 'string', default: '60s' },
    'upstream-max-connections': { type: 'string', default: '1024' },
    'upstream-queue-size': { type: 'string', default: '1024' },
    'upstream-queue-timeout': { type: 'string', default: '5s' },
  } as const;
}

type ServingValues = {
  listen: string;
  'listen-tls'?: string | undefined;
  'https-redirect-port'?: string | undefined;
  'ops-listen': string;
  'trust-proxy': string[];
  'provider-refresh': string;
  'signature-cache-size': string;
  'drain-delay': string;
  'shutdown-timeout': string;
  'client-body-buffer-size': string;
  'client-body-timeout': string;
  'send-timeout': string;
  'upstream-max-connections': string;
  'upstream-queue-size': string;
  'upstream-queue-timeout': string;
};

function servingOptions(values: ServingValues) {
  return {
    listen: parseListen(values.listen, '--listen'),
    ...(values['listen-tls'] === undefined ? {} : { listenTLS: parseListen(values['listen-tls'], '--listen-tls') }),
    ...(values['https-redirect-port'] === undefined ? {} : { httpsRedirectPort: parseCount(values['https-redirect-port'], '--https-redirect-port') }),
    opsListen: parseListen(values['ops-listen'], '--ops-listen'),
    trustedProxies: values['trust-proxy'],
    providerRefreshMs: parseDuration(values['provider-refresh'], '--provider-refresh'),
    signatureCacheSize: parseCount(values['signature-cache-size'], '--signature-cache-size'),
    drainDelayMs: parseDuration(values['drain-delay'], '--drain-delay'),
    shutdownTimeoutMs: parseDuration(values['shutdown-timeout'], '--shutdown-timeout'),
    clientBodyBufferSize: parseCount(values['client-body-buffer-size'], '--client-body-buffer-size'),
    clientBodyTimeoutMs: parsePositiveDuration(values['client-body-timeout'], '--client-body-timeout'),
    sendTimeoutMs: parsePositiveDuration(values['send-timeout'], '--send-timeout'),
    upstreamMaxConnections: parsePositiveCount(values['upstream-max-connections'], '--upstream-max-connections'),
    upstreamQueueSize: parseCount(values['upstream-queue-size'], '--upstream-queue-size'),
    upstreamQueueTimeoutMs: parsePositiveDuration(values['upstream-queue-timeout'], '--upstream-queue-timeout'),
  };
}

function parseDuration(value: string, flag: string): number {
  if (!new RegExp(DURATION_PATTERN).test(value)) throw new UsageError(`${flag} takes a duration such as 30s or 10m.`);
  return durationToMs(value);
}

function parsePositiveDuration(value: string, flag: string): number {
  const ms = parseDuration(value, flag);
  if (ms < 1) throw new UsageError(`${flag} takes a duration longer than zero, such as 60s.`);
  return ms;
}

function parsePositiveCount(value: string, flag: string): number {
  const n = parseCount(value, flag);
  if (n < 1) throw new UsageError(`${flag} takes a whole number of at least 1.`);
  return n;
}

function parseCount(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} takes a whole number.`);
  return n;
}

/** Servers keep timers and pools alive: once closed and flushed, the process ends itself. */
function exitAfterFlush(logger: Logger, code: number): Promise<number> {
  return new Promise((resolve) => {
    logger.flush(() => {
      resolve(code);
      setImmediate(() => process.exit(code));
    });
  });
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve(signal));
  });
}

export class UsageError extends Error {
  override name = 'UsageError';
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const err = error as NodeJS.ErrnoException;
  if (error instanceof UsageError || error instanceof TypeError || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    process.stderr.write(`portcullis: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
    const address = err as NodeJS.ErrnoException & { address?: string; port?: number };
    process.stderr.write(`portcullis: cannot listen on ${address.address}:${address.port}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : 'permission denied'}\n`);
    process.exitCode = 1;
  } else if (err.code === 'ENOENT') {
    process.stderr.write(`portcullis: ${err.path ?? err.message}: no such file or directory\n`);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
