// The CLI's definition and its parser, as functions; test/cli/usage.test.ts runs the real process.
import { COMMANDS, defaultFor, FLAGS, flagsOf, type CommandName, type FlagSpec } from '../../src/cli/commands.ts';
import { meant, parseCommand, parseValue } from '../../src/cli/flags.ts';
import { parseListen } from '../../src/cli/listen.ts';
import { UsageError } from '../../src/cli/usage-error.ts';

const commandNames = COMMANDS.map((command) => command.name) as CommandName[];

describe('parseListen', () => {
  it.each([
    ['8080', undefined, 8080],
    ['0', undefined, 0],
    [':8080', undefined, 8080],
    ['127.0.0.1:8080', '127.0.0.1', 8080],
    ['localhost:9', 'localhost', 9],
    ['[::1]:8080', '::1', 8080],
    ['[::]:443', '::', 443],
    ['0.0.0.0:65535', '0.0.0.0', 65535],
  ])('reads %s as host %s, port %d', (value, host, port) => {
    expect(parseListen(value, '--listen')).toEqual({ host, port });
  });

  it.each(['', ':', 'localhost', 'localhost:', '65536', ':99999', '::1:8080', '[::1]', 'a b:80', '8080x', '-1', 'http://127.0.0.1:80'])('refuses %j with a message naming the flag', (value) => {
    expect(() => parseListen(value, '--ops-listen')).toThrow(UsageError);
    expect(() => parseListen(value, '--ops-listen')).toThrow(`--ops-listen takes host:port, :port or port (0–65535), not ${JSON.stringify(value)}.`);
  });
});

describe('the definition', () => {
  it.each(commandNames)('gives each flag of %s one name and one short letter, and --help', (command) => {
    const flags = flagsOf(command);
    const names = flags.map((flag) => flag.name);
    expect(new Set(names).size).toBe(names.length);
    const shorts = flags.flatMap((flag) => ('short' in flag && flag.short ? [flag.short] : []));
    expect(new Set(shorts).size).toBe(shorts.length);
    expect(names).toContain('help');
  });

  it('describes every flag in one sentence that starts with a capital and ends with a period', () => {
    for (const flag of FLAGS) expect(flag.description).toMatch(/^[A-Z].*\.$/);
    for (const command of COMMANDS) expect(command.summary).toMatch(/^[A-Z].*\.$/);
  });

  it('has defaults that its own parser accepts, for every command that takes the flag', () => {
    for (const flag of FLAGS as readonly FlagSpec[]) {
      for (const command of flag.commands) {
        const value = defaultFor(flag, command);
        if (typeof value === 'string') expect(() => parseValue(flag, value)).not.toThrow();
        if (flag.default !== undefined && typeof flag.default === 'object' && !Array.isArray(flag.default)) expect(value).toBeDefined();
      }
    }
  });

  it('shares the data-plane flags between standalone and controller', () => {
    const standalone = flagsOf('standalone').filter((flag) => flag.name !== 'file');
    const controller = flagsOf('controller');
    for (const flag of standalone) expect(controller).toContain(flag);
  });
});

describe('parseCommand', () => {
  it('converts values by kind and applies the command\'s own defaults', () => {
    const parsed = parseCommand('standalone', ['-f', 'a.yaml', '--file=b/', '--listen', '22080', '--ops-listen=[::1]:9', '--trust-proxy', '10.0.0.0/8', '--trust-proxy', '::1', '--provider-refresh', '1h30m']);
    expect(parsed).toEqual({
      help: false,
      values: {
        file: ['a.yaml', 'b/'],
        listen: { host: undefined, port: 22080 },
        'ops-listen': { host: '::1', port: 9 },
        'trust-proxy': ['10.0.0.0/8', '::1'],
        'strip-request-header': [],
        'auth-listen': [],
        'auth-convention': 'nginx',
        'auth-default-allow': false,
        'provider-refresh': 5_400_000,
        'signature-cache-size': 10_000,
        'drain-delay': 0,
        'shutdown-timeout': 25_000,
        'client-body-buffer-size': 1_048_576,
        'client-body-timeout': 60_000,
        'send-timeout': 60_000,
        'upstream-max-connections': 1024,
        'upstream-queue-size': 1024,
        'upstream-queue-timeout': 5_000,
        'assertion-issuer': 'portcullis',
        'log-level': 'info',
        'log-format': 'auto',
      },
    });
    const controller = parseCommand('controller', []);
    expect(controller.help === false && controller.values['drain-delay']).toBe(5_000);
    expect(controller.help === false && controller.values['leader-election']).toBe(true);
    expect(controller.help === false && controller.values.namespace).toEqual([]);
    const demo = parseCommand('demo', []);
    expect(demo.help === false && demo.values['log-format']).toBe('text');
  });

  it('takes the last value of a flag given twice, and every value of a repeatable one', () => {
    const parsed = parseCommand('controller', ['--log-level=info', '-n', 'a', '--namespace=b', '--log-level', 'debug', '--strip-request-header', 'X-Corp-User', '--strip-request-header=x_corp_auth_*']);
    expect(parsed.help === false && parsed.values['log-level']).toBe('debug');
    expect(parsed.help === false && parsed.values.namespace).toEqual(['a', 'b']);
    expect(parsed.help === false && parsed.values['strip-request-header']).toEqual(['X-Corp-User', 'x_corp_auth_*']);
  });

  it('reads --no-<flag> as false', () => {
    const parsed = parseCommand('controller', ['--no-leader-election', '--allow-local-backends']);
    expect(parsed.help === false && parsed.values['leader-election']).toBe(false);
    expect(parsed.help === false && parsed.values['allow-local-backends']).toBe(true);
  });

  it('answers help whatever else is on the line', () => {
    expect(parseCommand('standalone', ['--lissten', '-h'])).toEqual({ help: true });
    expect(parseCommand('echo', ['--help', '--port', 'x'])).toEqual({ help: true });
  });

  it.each([
    [['standalone', '-f', 'x', '--lissten', '1'], 'Unknown flag --lissten for `portcullis standalone`. Did you mean `--listen`?'],
    [['controller', '--leader-elction-namespace', 'x'], 'Did you mean `--leader-election-namespace`?'],
    [['controller', '--no-leader-elections'], 'Did you mean `--no-leader-election`?'],
    [['standalone', '-f', 'x', '--kubeconfig', 'k'], '--kubeconfig is a flag of `portcullis controller`, not of `portcullis standalone`.'],
    [['standalone', '-f', 'x', '--zzz'], 'Unknown flag --zzz for `portcullis standalone`. See `portcullis standalone --help`.'],
    [['standalone'], '`portcullis standalone` needs --file <file|dir> (one or more).'],
    [['standalone', '-f', 'x', '--listen'], '--listen needs a value: --listen <host:port>.'],
    [['standalone', '-f', 'x', '--listen', '--ops-listen', '9'], '--listen needs a value: --listen <host:port>.'],
    [['standalone', '-f', 'x', 'extra'], 'Unexpected argument "extra": `portcullis standalone` takes flags only (see `portcullis standalone --help`).'],
    [['standalone', '-f', 'x', '--log-level', 'verbose'], '--log-level takes fatal, error, warn, info, debug, trace or silent, not "verbose".'],
    [['standalone', '-f', 'x', '--log-format', 'pretty'], '--log-format takes auto, json or text, not "pretty".'],
    [['standalone', '-f', 'x', '--drain-delay', '5'], '--drain-delay takes a duration such as 500ms, 30s or 1h30m, not "5".'],
    [['standalone', '-f', 'x', '--signature-cache-size', '-1'], '--signature-cache-size takes a whole number, not "-1".'],
    [['standalone', '-f', 'x', '--signature-cache-size=1e3'], '--signature-cache-size takes a whole number, not "1e3".'],
    [['standalone', '-f', 'x', '--trust-proxy', '10.0.0.0/33'], '--trust-proxy takes an IP address or CIDR range such as 10.0.0.0/8, not "10.0.0.0/33".'],
    [['standalone', '-f', 'x', '--https-redirect-port', '0'], '--https-redirect-port takes a port number (1–65535), not "0".'],
    [['demo', '--port', '65536'], '--port takes a port number (1–65535), not "65536".'],
    [['standalone', '-f', 'x', '--client-body-timeout', '0s'], '--client-body-timeout takes a duration longer than zero, such as 60s, not "0s".'],
    [['controller', '--upstream-max-connections', '0'], '--upstream-max-connections takes a whole number of at least 1, not "0".'],
    [['standalone', '-f', 'x', '--strip-request-header', '*'], '--strip-request-header takes a header name, or a prefix ending in * such as x-corp-auth-*, not "*".'],
    [['controller', '--strip-request-header', 'x-a*b'], '--strip-request-header takes a header name, or a prefix ending in * such as x-corp-auth-*, not "x-a*b".'],
    [['controller', '--class', 'Not_A_Name'], '--class takes a lower-case name such as portcullis, not "Not_A_Name".'],
    [['controller', '--allow-local-backends=yes'], '--allow-local-backends takes no value.'],
    [['controller', '--leader-election=false'], '--leader-election takes no value; --no-leader-election turns it off.'],
  ])('refuses %j: %s', (argv, message) => {
    const [command, ...args] = argv as [CommandName, ...string[]];
    let thrown: unknown;
    try {
      parseCommand(command, args);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toContain(message);
  });
});

describe('meant', () => {
  it('suggests the only name that starts with what was typed, else the nearest, or nothing when nothing is near', () => {
    expect(meant('lissten', ['listen', 'listen-tls', 'ops-listen'])).toBe('listen');
    expect(meant('lsiten', ['listen', 'ops-listen'])).toBe('listen');
    expect(meant('kube', ['kubeconfig', 'class'])).toBe('kubeconfig');
    expect(meant('stanalone', ['standalone', 'validate', 'demo'])).toBe('standalone');
    expect(meant('deploy', ['standalone', 'validate', 'demo', 'echo', 'controller'])).toBeNull();
    expect(meant('leader', ['leader-election-lease', 'leader-election-namespace'])).toBeNull();
  });
});
