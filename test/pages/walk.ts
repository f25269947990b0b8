// What a person sees, walked in Chromium through `portcullis demo`: sign in as bob → the
// upstream's page → who am I → /admin refused (403) → sign in as someone else (alice) → who am
// I → sign out → the signed-out page; then the pages nobody hopes to see (not signed in, a forged
// callback, a provider's refusal). Every page is recorded as a person sees it (status, heading,
// text), checked with axe-core (in a second context that bypasses the page's CSP, for the axe
// script only), and checked to render under its own CSP without a violation. The pages test
// asserts on the records; scripts/screenshots.ts saves each page as a PNG for docs/pages.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { CLI, REPO_ROOT } from '../support/cli.ts';
import { freePorts } from '../support/ports.ts';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: readonly string[];
}

export interface Visit {
  readonly name: string;
  readonly url: string;
  readonly status: number | null;
  readonly heading: string;
  /** The page's visible text. */
  readonly text: string;
  /** The Content-Security-Policy header the page came with. */
  readonly policy: string | null;
  /** What Chromium refused under that policy (console errors). */
  readonly policyViolations: readonly string[];
  /** The body's computed background: the page's own style applied (not the browser's default). */
  readonly background: string;
  readonly violations: readonly AxeViolation[];
}

export interface Demo {
  readonly site: string;
  readonly provider: string;
  stop(): Promise<void>;
}

/** `portcullis demo` as its own process, on free loopback ports, as a person runs it. */
export async function startDemo(): Promise<Demo> {
  const [proxy, ops, provider, upstream] = (await freePorts(4)) as [number, number, number, number];
  const child: ChildProcess = spawn(CLI, ['demo', '--port', String(proxy), '--ops-port', String(ops), '--provider-port', String(provider), '--upstream-port', String(upstream), '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  // Ready once it has printed its instructions (it prints them when everything listens).
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start: ${output}`)), 30_000);
    const check = (): void => {
      if (!output.includes('Ctrl-C stops everything.')) return;
      clearTimeout(timer);
      child.stderr!.off('data', check);
      resolve();
    };
    child.stderr!.on('data', check);
    void exited.then(() => reject(new Error(`the demo exited: ${output}`)));
  });
  return {
    site: `http://127.0.0.1:${proxy}`,
    provider: `http://127.0.0.1:${provider}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface WalkOptions {
  readonly browser: Browser;
  readonly site: string;
  /** Called with each page once it is recorded (the screenshot script saves it). */
  readonly shoot?: (name: string, page: Page) => Promise<void>;
}

export interface Walk {
  /** The pages by name, in order. */
  readonly visits: Map<string, Visit>;
  /** Who am I, asked by an API (Accept: application/json) while bob was signed in. */
  readonly meJSON: unknown;
}

export async function walkDemo(options: WalkOptions): Promise<Walk> {
  const { browser, site } = options;
  const context = await browser.newContext({ viewport: { width: 960, height: 720 } });
  const visits = new Map<string, Visit>();
  try {
    const page = await context.newPage();
    let policyErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) policyErrors.push(message.text());
    });

    const visit = async (name: string, response: Response | null): Promise<void> => {
      await page.waitForLoadState('load');
      const url = page.url();
      const heading = (await page.locator('h1').first().innerText()).trim();
      const text = await page.locator('body').innerText();
      const background = await page.evaluate(bodyBackground);
      const violations = await audit(browser, context, url);
      visits.set(name, { name, url, status: response?.status() ?? null, heading, text, policy: (await response?.allHeaders())?.['content-security-policy'] ?? null, policyViolations: policyErrors, background, violations });
      policyErrors = [];
      await options.shoot?.(name, page);
    };
    const navigate = (action: () => Promise<unknown>) => Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]).then(([response]) => response);
    const signInAs = async (username: string) => {
      await page.fill('#username', username);
      await page.fill('#password', `${username}-password`);
      return navigate(() => page.click('button[type=submit]'));
    };

    await visit('signin', await page.goto(`${site}/anything/test`));
    await visit('upstream', await signInAs('bob'));
    await visit('me', await page.goto(`${site}/.well-known/portcullis/me`));
    const meJSON: unknown = await (await page.request.get(`${site}/.well-known/portcullis/me`, { headers: { accept: 'application/json' } })).json();
    await visit('forbidden', await page.goto(`${site}/admin`));
    await visit('signin-again', await navigate(() => page.getByRole('link', { name: 'Sign in as someone else' }).click()));
    await visit('admin', await signInAs('alice'));
    await visit('me-alice', await page.goto(`${site}/.well-known/portcullis/me`));
    // Sign out: a POST from this origin, through the provider's logout, to the signed-out page.
    await Promise.all([page.waitForURL(`${site}/.well-known/portcullis/signed-out`), page.getByRole('button', { name: 'Sign out' }).click()]);
    await visit('signed-out', await page.reload());
    await visit('not-signed-in', await page.goto(`${site}/.well-known/portcullis/me`));
    await visit('callback-forged', await page.goto(`${site}/oauth2/callback?code=forged&state=${'f'.repeat(43)}`));
    await visit('provider-error', await page.goto(`${site}/oauth2/callback?error=access_denied&state=${'d'.repeat(43)}`));
    return { visits, meJSON };
  } finally {
    await context.close();
  }
}

/** In the page: the body's computed background colour. */
export function bodyBackground(): string {
  const window = globalThis as unknown as { document: { body: unknown }; getComputedStyle(element: unknown): { backgroundColor: string } };
  return window.getComputedStyle(window.document.body).backgroundColor;
}

/**
 * axe-core's serious and critical findings (WCAG 2.x A and AA, and best practice) for `url`, in a
 * context of its own that bypasses the page's CSP so that the axe script can run, with the
 * cookies of `context`. Only for pages that a GET shows again unchanged.
 */
export async function audit(browser: Browser, context: BrowserContext, url: string): Promise<AxeViolation[]> {
  const checking = await browser.newContext({ bypassCSP: true, storageState: await context.storageState(), viewport: { width: 960, height: 720 } });
  try {
    const page = await checking.newPage();
    await page.goto(url);
    await page.addScriptTag({ path: AXE });
    const found = await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const results = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
      return results.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')) }));
    });
    return found.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  } finally {
    await checking.close();
  }
}
