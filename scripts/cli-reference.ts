// Writes docs/cli.md from the CLI's own definition (src/cli/commands.ts):
//
//   npm run docs:cli          (node scripts/cli-reference.ts > docs/cli.md)
//
// test/cli/reference.test.ts fails when the file and the definition disagree.
import { readFileSync } from 'node:fs';
import { cliReference } from '../src/cli/help.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
process.stdout.write(cliReference(version));
