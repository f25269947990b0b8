// bench/RESULTS.md holds one section per benchmark; each run replaces its own section.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RESULTS_FILE = join(import.meta.dirname, 'RESULTS.md');

export function writeResultsSection(heading: string, body: string): void {
  const header = '# Benchmark results\n\nEach section is rewritten by the benchmark named in it; figures move from run to run, ratios much less.\n';
  const text = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : header;
  const section = `## ${heading}\n\n${body.trim()}\n`;
  const start = text.indexOf(`## ${heading}\n`);
  if (start === -1) {
    writeFileSync(RESULTS_FILE, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', start + 1);
  writeFileSync(RESULTS_FILE, text.slice(0, start) + section + (next === -1 ? '' : text.slice(next)));
}
