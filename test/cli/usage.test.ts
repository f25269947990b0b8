// The command line as a person meets it, through the real process: help, --version, and what a
// mistake gets (one line on stderr, exit 2, never a stack trace).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, defaultFor, flagsOf, type CommandName } from '../../src/cli/commands.ts';
import { REPO_ROOT, runCli } from '../support/cli.ts';

const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
const commandNames = COMMANDS.map((command) => command.name) as CommandName[];

/** The one line a usage mistake prints, and nothing else. */
function expectOneLine(result: { code: number | null; stdout: string; stderr: string }, message: string | RegExp): void {
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^portcullis: /);
  if (typeof message === 'string') expect(result.stderr).toContain(message);
  else expect(result.stderr).toMatch(message);
  expect(result.code).toBe(2);
}

describe('portcullis --help', () => {
  it('lists every command, on stdout, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^ {2}portcullis ${command.name} +${command.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      expect(result.stdout).toContain('portcullis help <command>');
    }
  });

  it('without a command, prints the usage on stderr and exits 2', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: portcullis <command> [flags]');
  });
});

describe.each(commandNames)('portcullis %s --help', (command) => {
  it('prints the usage line and every flag with its default and meaning, exit 0, the same three ways', async () => {
    const results = await Promise.all([runCli([command, '--help']), runCli([command, '-h']), runCli(['help', command])]);
    for (const result of results) {
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(results[0]!.stdout);
    }
    const help = results[0]!.stdout;
    expect(help).toMatch(new RegExp(`^Usage: portcullis ${command} `));
    // Help wraps meanings: compare with the line breaks and indentation taken out.
    const flat = help.replace(/\s+/g, ' ');
    for (const flag of flagsOf(command)) {
      expect(help).toMatch(new RegExp(`^ {2}(-${'short' in flag ? flag.short : '.'}, | {4})--(\\[no-\\])?${flag.name}\\b`, 'm'));
      expect(flat).toContain(flag.description.replace(/\s+/g, ' '));
      const value = defaultFor(flag, command);
      if (typeof value === 'string' || typeof value === 'boolean') expect(flat).toContain(`(default ${value})`);
    }
  });
});

describe('portcullis --version', () => {
  it("prints package.json's version, exit 0", async () => {
    for (const args of [['--version'], ['-v'], ['version']]) {
      const result = await runCli(args);
      expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('a mistake on the command line', () => {
  it('an unknown command: exit 2 with a suggestion', async () => {
    expectOneLine(await runCli(['stanalone', '-f', 'examples/']), 'Unknown command "stanalone". Did you mean `portcullis standalone`?');
    expectOneLine(await runCli(['help', 'contoller']), 'Did you mean `portcullis controller`?');
  });

  it('an unknown flag: exit 2 with a suggestion', async () => {
    expectOneLine(await runCli(['standalone', '-f', 'examples/', '--lissten', ':8080']), 'Unknown flag --lissten for `portcullis standalone`. Did you mean `--listen`?');
    expectOneLine(await runCli(['--listen', '8080']), '--listen comes after a command, as in `portcullis standalone --listen …`.');
  });

  it.each([
    [['standalone', '-f', 'examples/', '--log-level', 'verbose'], '--log-level takes fatal, error, warn, info, debug, trace or silent, not "verbose".'],
    [['controller', '--leader-election-lease-duration', '15'], '--leader-election-lease-duration takes a duration such as 500ms, 30s or 1h30m, not "15".'],
    [['standalone', '-f', 'examples/', '--listen', '70000'], '--listen takes host:port, :port or port (0–65535), not "70000".'],
    [['demo', '--port', 'http'], '--port takes a port number (1–65535), not "http".'],
    [['standalone'], '`portcullis standalone` needs --file <file|dir> (one or more).'],
    [['controller', '--leader-election-retry-period', '20s'], 'Leader election needs --leader-election-retry-period < --leader-election-renew-deadline < --leader-election-lease-duration.'],
  ])('a bad value, %j: one clear line, exit 2', async (args, message) => {
    expectOneLine(await runCli(args), message);
  });

  it('a file that does not exist: one line, exit 2', async () => {
    expectOneLine(await runCli(['validate', '-f', 'no/such/file.yaml']), /no\/such\/file\.yaml: no such file or directory\.$/m);
  });
});
