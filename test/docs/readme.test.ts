// The README is the front door: short enough to read at once, with the commands a newcomer types
// and what they need, a picture of both grants, and links to docs/ for everything else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli.ts';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** The body of the `## <heading>` section, up to the next `## `. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`README.md has no "## ${heading}" section.`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

describe('README.md', () => {
  it('stays under 15 KB', () => {
    expect(Buffer.byteLength(README, 'utf8')).toBeLessThan(15 * 1024);
  });

  it('starts with the three commands, from Node.js 20 on', () => {
    const quickStart = section('Quick start');
    expect(quickStart).toContain('Node.js 20 or later with npm');
    const commands = /```sh\n([\s\S]*?)```/.exec(quickStart)![1]!.split('\n').filter(Boolean).map((line) => line.split('#')[0]!.trim());
    expect(commands).toEqual(['npm ci', 'npm start', 'npm test']);
  });

  it('runs every documented command through npm or npx, never a TypeScript file by hand', () => {
    const shellLines = [...README.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.split('\n')).filter((line) => line.trim() !== '');
    expect(shellLines.filter((line) => !/^(npm|npx|kubectl) /.test(line))).toEqual([]);
    expect(README).not.toMatch(/node src\//);
  });

  it('says what `npm test` needs and how long it takes', () => {
    const needs = section('What `npm test` needs');
    for (const need of ['Go 1.26', 'root', 'Chromium', 'Redis', 'GB of disk', 'minutes']) expect(needs).toContain(need);
  });

  it('draws the architecture as one Mermaid flowchart, with both grants', () => {
    const diagrams = [...README.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(diagrams).toHaveLength(1);
    const [diagram] = diagrams as [string];
    expect(diagram.split('\n')[0]).toBe('flowchart LR');
    for (const part of ['compile', 'Route table', 'Proxy', 'Upstream', 'authorization code grant', 'Bearer JWT', 'JWKS']) expect(diagram).toContain(part);
  });

  it('links to the pages that hold the rest, and keeps no flag or field tables of its own', () => {
    for (const page of ['docs/cli.md', 'docs/reference.md', 'docs/install.md', 'docs/cognito-walkthrough.md', 'docs/cognito.md', 'docs/development.md', 'bench/RESULTS.md']) {
      expect(README).toContain(`](${page})`);
    }
    // Flag tables live in docs/cli.md (checked against the CLI's definition), fields in docs/reference.md.
    expect(README.split('\n').filter((line) => /^\| `-|^\| (flag|field|key) \|/.test(line))).toEqual([]);
  });
});
