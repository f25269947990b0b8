// Saves the screenshots of docs/pages.md: `portcullis demo` walked in Chromium from sign-in to
// sign-out (test/pages/walk.ts, the walk the pages test checks), and a 502 of a proxy whose
// upstream is down.
//
//   npm run docs:screenshots          (node scripts/screenshots.ts → docs/screenshots/*.png)
//
// It stops with an error, and writes nothing more, when a page has a serious accessibility
// finding or Chromium refuses something under the page's Content-Security-Policy.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/browser/support.ts';
import { routeYAML } from '../test/support/manifests.ts';
import { freePort } from '../test/support/ports.ts';
import { startPortcullis } from '../test/support/portcullis-process.ts';
import { audit, startDemo, walkDemo, type Visit } from '../test/pages/walk.ts';

const OUT = new URL('../docs/screenshots/', import.meta.url);
/** The pages docs/pages.md shows, by the walk's names. */
const SHOWN = ['signin', 'upstream', 'me', 'forbidden', 'signed-out', 'not-signed-in', 'callback-forged', 'provider-error'];

async function save(name: string, page: Page): Promise<void> {
  await page.screenshot({ path: new URL(`${name}.png`, OUT).pathname, fullPage: true });
  process.stderr.write(`docs/screenshots/${name}.png\n`);
}

function problems(visit: Pick<Visit, 'name' | 'violations' | 'policyViolations'>): string[] {
  return [...visit.violations.map((v) => `${visit.name}: ${v.impact} ${v.id} (${v.help}) at ${v.targets.join(', ')}`), ...visit.policyViolations.map((text) => `${visit.name}: ${text}`)];
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const browser = await launchChromium();
  const demo = await startDemo();
  const found: string[] = [];
  try {
    const { visits } = await walkDemo({
      browser,
      site: demo.site,
      shoot: async (name, page) => {
        if (SHOWN.includes(name)) await save(name, page);
      },
    });
    for (const visit of visits.values()) found.push(...problems(visit));

    // A 502: a Route whose upstream refuses connections.
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-screenshots-'));
    writeFileSync(join(dir, 'route.yaml'), routeYAML('down', `  rules:\n    - backends: [{url: "http://127.0.0.1:${await freePort()}"}]\n`));
    const proxy = await startPortcullis(['standalone', '-f', dir]);
    const context = await browser.newContext({ viewport: { width: 960, height: 720 } });
    try {
      const page = await context.newPage();
      await page.goto(`${proxy.url}/reports/weekly`);
      found.push(...problems({ name: 'bad-gateway', violations: await audit(browser, context, page.url()), policyViolations: [] }));
      await save('bad-gateway', page);
    } finally {
      await context.close();
      await proxy.stop();
    }
  } finally {
    await demo.stop();
    await browser.close();
  }
  if (found.length > 0) throw new Error(`Pages with problems:\n${found.join('\n')}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
