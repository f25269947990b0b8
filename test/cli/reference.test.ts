// docs/cli.md against the one definition of the command line (src/cli/commands.ts): every flag
// documented, none that does not exist, the same defaults. `npm run docs:cli` rewrites the file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, defaultFor, flagsOf, type CommandName } from '../../src/cli/commands.ts';
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
