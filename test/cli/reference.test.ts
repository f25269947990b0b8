// docs/cli.md against the one definition of the command line (src/cli/commands.ts): every flag
// documented, none that does not exist, the same defaults. `npm run docs:cli` rewrites the file.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, defaultFor, flagsOf, type CommandName } from '../../src/cli/commands.ts';
import { parseCommand } from '../../src/cli/flags.ts';
import { cliReference } from '../../src/cli/help.ts';
import { REPO_ROOT } from '../support/cli.ts';

const reference = readFileSync(join(REPO_ROOT, 'docs', 'cli.md'), 'utf8');
const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

interface DocumentedFlag {
  readonly name: string;
  readonly short: string | undefined;
  readonly default: string;
  readonly meaning: string;
}

/** The flag tables of docs/cli.md, by the command whose section holds them. */
function documentedTables(markdown: string): Map<string, DocumentedFlag[]> {
  const tables = new Map<string, DocumentedFlag[]>();
  let rows: DocumentedFlag[] | null = null;
  for (const line of markdown.split('\n')) {
    const heading = /^## portcullis (\S+)$/.exec(line);
    if (heading) tables.set(heading[1]!, (rows = []));
    if (rows === null || !line.startsWith('|') || /^\|\s*(Flag\s*\||-)/.test(line)) continue;
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim().replace(/^`(.*)`$/, '$1').replaceAll('\\|', '|'));
    const [flag = '', defaultValue = '', meaning = ''] = cells;
    const parts = /^(?:-(\w), )?--(?:\[no-\])?([a-z0-9-]+)/.exec(flag);
    if (parts === null) throw new Error(`docs/cli.md: a flag row that names no flag: ${line}`);
    rows.push({ name: parts[2]!, short: parts[1], default: defaultValue, meaning });
  }
  return tables;
}

const tables = documentedTables(reference);

describe('docs/cli.md', () => {
  it('has a section for each command, and for no other', () => {
    expect([...tables.keys()]).toEqual(COMMANDS.map((command) => command.name));
  });

  it.each(COMMANDS.map((command) => command.name) as CommandName[])('documents every flag of %s, no other, with its default and meaning', (command) => {
    const documented = tables.get(command) ?? [];
    const defined = flagsOf(command);
    expect(documented.map((row) => row.name)).toEqual(defined.map((flag) => flag.name));
    for (const flag of defined) {
      const row = documented.find((r) => r.name === flag.name)!;
      const value = defaultFor(flag, command);
      expect({ flag: flag.name, short: row.short, default: row.default }).toEqual({
        flag: flag.name,
        short: flag.short,
        default: value === undefined || (Array.isArray(value) && value.length === 0) ? '' : String(value),
      });
      expect(row.meaning.startsWith(flag.description)).toBe(true);
    }
  });

  it('is what `npm run docs:cli` writes, word for word', () => {
    expect(reference).toBe(cliReference(version));
  });
});

// The other pages name commands and flags too: the README's quick start, the install guide, the
// Helm values table. What they show must be what the CLI takes.
const pages = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((name) => name.endsWith('.md') && name !== 'cli.md').map((name) => `docs/${name}`)];
const text = (page: string) => readFileSync(join(REPO_ROOT, page), 'utf8');

/** `portcullis …` lines in fenced code blocks, as words (comments, `&` and `\` left out). */
function commandLines(markdown: string): string[][] {
  const lines: string[][] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const command = fenced ? /^\s*(?:npx )?portcullis (.*)$/.exec(line) : null;
    if (command) lines.push(command[1]!.replace(/\s#.*$/, '').replace(/[&\\]\s*$/, '').trim().split(/\s+/));
  }
  return lines;
}

it('finds command lines and flag tables to check (the README and the Helm values table have them)', () => {
  expect(commandLines(text('README.md')).length).toBeGreaterThanOrEqual(3);
  expect([...text('docs/reference.md').matchAll(/^\|\s*`[^`]+`\s*\|[^|]*\|\s*`--/gm)].length).toBeGreaterThanOrEqual(10);
});

describe.each(pages)('%s', (page) => {
  it('shows only command lines that the CLI accepts', () => {
    for (const [command, ...args] of commandLines(text(page))) {
      expect(COMMANDS.map((c) => c.name)).toContain(command);
      expect(() => parseCommand(command as CommandName, args)).not.toThrow();
    }
  });

  it('names only flags that exist, in its tables', () => {
    const flags = new Set(COMMANDS.flatMap((command) => flagsOf(command.name).map((flag) => flag.name)));
    for (const row of text(page).split('\n').filter((line) => line.startsWith('|'))) {
      // A table row whose meaning starts with a flag, as the Helm values table's do.
      for (const [, name] of row.matchAll(/\|\s*`--(?:no-)?([a-z0-9-]+)[`=]/g)) expect(flags).toContain(name);
    }
  });
});
