// The composition root: reads the command line (defined once, in commands.ts) and builds each
// mode from its parts.
import { readFileSync } from 'node:fs';
import type { Logger } from '../observability/logger.ts';
import { COMMANDS, FLAGS, type CommandName } from './commands.ts';
import { parseCommand, unknownCommand, type FlagValues } from './flags.ts';
import { commandHelp, usage } from './help.ts';
import { parseAuthListen } from './auth-listen.ts';
import { UsageError } from './usage-error.ts';

type Runner<C extends CommandName> = (values: FlagValues<C>, operand: string | undefined) => Promise<number>;

// Each command imports what it runs when it runs: help, --version and a mistyped flag answer at
// once, and no command pays for another's dependencies (@kubernetes/client-node alone takes
// about 0.4 s and 90 MB to import; the demo's OpenID provider, fastify and RE2 add more).
const RUN: { readonly [C in CommandName]: Runner<C> } = {
  async standalone(values) {
    const logger = await commandLogger(values);
    const { runStandalone } = await import('./standalone.ts');
    const running = await runStandalone({
      paths: values.file,
      ...servingOptions(values),
      assertionIssuer: values['assertion-issuer'],
      ...(values['assertion-key'] === undefined ? {} : { assertionKeyFile: values['assertion-key'] }),
      logger,
    });
    await stopOnSignal(logger);
    await running.close();
    return exitAfterFlush(logger, 0);
  },

  async validate(values) {
    const { validate } = await import('./validate.ts');
    const report = await validate(values.file, values.mode, { checkProviders: values['check-providers'] });
    process.stdout.write(`${report.text}\n`);
    return report.ok ? 0 : 1;
  },

  async explain(values, url) {
    const { explain, exitCode, formatExplanation } = await import('./explain.ts');
    const explanation = await explain({
      paths: values.file,
      url: url!,
      method: values.request,
      headers: values.header,
      ...(values.token === undefined ? {} : { token: values.token }),
      ...(values.claims === undefined ? {} : { claims: values.claims }),
      providerTimeoutMs: values['provider-timeout'],
    });
    process.stdout.write(`${values.output === 'json' ? JSON.stringify(explanation, null, 2) : formatExplanation(explanation)}\n`);
    return exitCode(explanation);
  },

  async demo(values) {
    // Lines written as they come, so that the start-up lines stay above the banner.
    const logger = await commandLogger(values, { sync: true });
    const { runDemo } = await import('./demo.ts');
    const demo = await runDemo({
      proxyPort: values.port,
      opsPort: values['ops-port'],
      providerPort: values['provider-port'],
      upstreamPort: values['upstream-port'],
      assertionIssuer: values['assertion-issuer'],
      ...(values['assertion-key'] === undefined ? {} : { assertionKeyFile: values['assertion-key'] }),
      logger,
    });
    process.stderr.write(demo.instructions);
    await stopOnSignal(logger);
    await demo.close();
    return exitAfterFlush(logger, 0);
  },

  async echo(values) {
    const { startEchoServer } = await import('../demo/echo-upstream.ts');
    const echo = await startEchoServer({ host: values.host, port: values.port, record: false });
    process.stdout.write(`${echo.url}\n`);
    await untilSignal();
    await echo.close();
    return 0;
  },

  async controller(values) {
    const election = {
      enabled: values['leader-election'],
      namespace: values['leader-election-namespace'],
      lease: values['leader-election-lease'],
      leaseDurationMs: values['leader-election-lease-duration'],
      renewDeadlineMs: values['leader-election-renew-deadline'],
      retryPeriodMs: values['leader-election-retry-period'],
    };
    if (values['assertion-key'] !== undefined && values['assertion-key-secret'] !== undefined) {
      throw new UsageError('--assertion-key and --assertion-key-secret both name the assertion keys: give one.');
    }
    if (!(election.retryPeriodMs < election.renewDeadlineMs && election.renewDeadlineMs < election.leaseDurationMs)) {
      throw new UsageError('Leader election needs --leader-election-retry-period < --leader-election-renew-deadline < --leader-election-lease-duration.');
    }
    const logger = await commandLogger(values);
    const { DEFAULT_LEADER_ELECTION, runController } = await import('./controller.ts');
    const running = await runController({
      kubeconfig: values.kubeconfig,
      namespaces: values.namespace,
      className: values.class,
      ...servingOptions(values),
      allowLocalBackends: values['allow-local-backends'],
      allowedBackendHosts: values['allowed-backend-host'].length === 0 ? null : values['allowed-backend-host'],
      leaderElection: { ...DEFAULT_LEADER_ELECTION, ...election },
      holdoffMs: values['rebuild-holdoff'],
      maxHoldoffMs: values['rebuild-max-holdoff'],
      assertionIssuer: values['assertion-issuer'],
      ...(values['assertion-key'] === undefined ? {} : { assertionKeyFile: values['assertion-key'] }),
      ...(values['assertion-key-secret'] === undefined ? {} : { assertionKeySecret: secretRef(values['assertion-key-secret']) }),
      logger,
    });
    await stopOnSignal(logger);
    await running.close();
    return exitAfterFlush(logger, 0);
  },
};

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  const version = packageVersion();
  if (first === undefined) {
    process.stderr.write(usage(version));
    return 2;
  }
  if (first === '--help' || first === '-h' || (first === 'help' && (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h'))) {
    process.stdout.write(usage(version));
    return 0;
  }
  if (first === 'help') {
    if (rest.length > 1) throw new UsageError('`portcullis help` takes one command, as in `portcullis help standalone`.');
    process.stdout.write(commandHelp(commandNamed(rest[0]!)));
    return 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (first.startsWith('-')) {
    const owners = [...new Set(FLAGS.filter((flag) => `--${flag.name}` === first.split('=')[0]).flatMap((flag) => flag.commands))];
    throw new UsageError(`${first} comes after a command${owners.length > 0 ? `, as in \`portcullis ${owners[0]} ${first} …\`` : ''}. See \`portcullis --help\`.`);
  }
  return run(commandNamed(first), rest);
}

function run<C extends CommandName>(command: C, args: readonly string[]): Promise<number> {
  const parsed = parseCommand(command, args);
  if (parsed.help) {
    process.stdout.write(commandHelp(command));
    return Promise.resolve(0);
  }
  return (RUN[command] as Runner<C>)(parsed.values, parsed.operand);
}

function commandNamed(name: string): CommandName {
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) throw unknownCommand(name);
  return command.name;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** `--log-format auto`: text for a person at a terminal, JSON for whatever reads a pipe or a file. */
async function commandLogger(values: { 'log-level': string; 'log-format': 'auto' | 'json' | 'text' }, options: { sync?: boolean } = {}): Promise<Logger> {
  const { createLogger } = await import('../observability/logger.ts');
  const format = values['log-format'] === 'auto' ? (process.stdout.isTTY ? 'text' : 'json') : values['log-format'];
  const color = format === 'text' && process.stdout.isTTY === true && process.stdout.hasColors();
  return createLogger({ level: values['log-level'], format, color, ...options });
}

/** The data plane's flags, the same for `standalone` and `controller`. */
type ServingValues = Pick<
  FlagValues<'standalone'>,
  | 'listen'
  | 'listen-tls'
  | 'listen-h2c'
  | 'https-redirect-port'
  | 'ops-listen'
  | 'trust-proxy'
  | 'strip-request-header'
  | 'provider-refresh'
  | 'signature-cache-size'
  | 'drain-delay'
  | 'shutdown-timeout'
  | 'client-body-buffer-size'
  | 'client-body-timeout'
  | 'send-timeout'
  | 'upstream-max-connections'
  | 'upstream-queue-size'
  | 'upstream-queue-timeout'
  | 'auth-listen'
  | 'auth-convention'
  | 'auth-envoy-prefix'
  | 'auth-default-allow'
>;

function servingOptions(values: ServingValues) {
  return {
    listen: values.listen,
    ...(values['listen-tls'] === undefined ? {} : { listenTLS: values['listen-tls'] }),
    ...(values['listen-h2c'] === undefined ? {} : { listenH2C: values['listen-h2c'] }),
    ...(values['https-redirect-port'] === undefined ? {} : { httpsRedirectPort: values['https-redirect-port'] }),
    opsListen: values['ops-listen'],
    trustedProxies: values['trust-proxy'],
    stripRequestHeaders: values['strip-request-header'],
    providerRefreshMs: values['provider-refresh'],
    signatureCacheSize: values['signature-cache-size'],
    drainDelayMs: values['drain-delay'],
    shutdownTimeoutMs: values['shutdown-timeout'],
    clientBodyBufferSize: values['client-body-buffer-size'],
    clientBodyTimeoutMs: values['client-body-timeout'],
    sendTimeoutMs: values['send-timeout'],
    upstreamMaxConnections: values['upstream-max-connections'],
    upstreamQueueSize: values['upstream-queue-size'],
    upstreamQueueTimeoutMs: values['upstream-queue-timeout'],
    authListen: values['auth-listen'].map((value) => parseAuthListen(value, values['auth-convention'])),
    authEnvoyPrefix: values['auth-envoy-prefix'] ?? '',
    authDefaultAllow: values['auth-default-allow'],
  };
}

/** `namespace/name` (the flag's pattern checked its shape) → its parts. */
function secretRef(value: string): { namespace: string; name: string } {
  const [namespace, name] = value.split('/') as [string, string];
  return { namespace, name };
}

async function stopOnSignal(logger: Logger): Promise<void> {
  const signal = await untilSignal();
  logger.info({ signal }, 'stopping');
}

/**
 * The first SIGTERM or SIGINT. The handlers stay in place afterwards: one Ctrl-C can arrive two
 * or three times (the terminal signals its whole process group, and npx and bin/portcullis.js
 * forward it as well), and with no handler left a repeat would kill the process in the middle of
 * its clean stop. A repeat more than a second later is a person insisting: stop at once.
 */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: number | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      if (first === null) {
        first = performance.now();
        resolve(signal);
      } else if (performance.now() - first > 1000) {
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      }
    };
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, onSignal);
  });
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

/** A failure a person can act on, as one line and an exit status; null for a bug (it keeps its stack trace). */
function explain(error: unknown): { message: string; status: number } | null {
  if (error instanceof UsageError) return { message: error.message, status: 2 };
  // By name: the class lives with the Kubernetes client, which only `controller` loads.
  if (error instanceof Error && error.name === 'KubeConfigMissing') return { message: error.message, status: 2 };
  const err = error as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const where = err.address === undefined ? `port ${err.port}` : `${err.address.includes(':') ? `[${err.address}]` : err.address}:${err.port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return { message: `Cannot listen on ${where}: the address is already in use.`, status: 1 };
    case 'EACCES':
      return { message: `Cannot listen on ${where}: permission denied (ports below 1024 need privileges).`, status: 1 };
    case 'EADDRNOTAVAIL':
      return { message: `Cannot listen on ${where}: no interface of this machine has that address.`, status: 1 };
    case 'ENOTFOUND':
      return { message: `Cannot listen on ${err.hostname ?? where}: no such host name.`, status: 1 };
    case 'ENOENT':
      return { message: `${err.path ?? err.message}: no such file or directory.`, status: 2 };
    default:
      return null;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const failure = explain(error);
  if (failure === null) throw error;
  process.stderr.write(`portcullis: ${failure.message}\n`);
  // Exit now: listeners, watchers and timers started before the failure would otherwise keep
  // the process alive with nothing to do (a busy ops port once left the proxy listening).
  process.exit(failure.status);
}
