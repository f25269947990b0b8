// What a person sees, in a real Chromium: the demo walked from sign-in to sign-out (walk.ts), and
// the error pages of a proxy whose upstreams fail. Each page: its visible text, no serious or
// critical axe-core finding, its own Content-Security-Policy sent and nothing refused under it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../browser/support.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { routeYAML } from '../support/manifests.ts';
import { freePort } from '../support/ports.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { audit, bodyBackground, startDemo, walkDemo, type Demo, type Visit } from './walk.ts';

jest.setTimeout(120_000);

/** The policy of every page of ours: nothing but its own style, no framing, forms to itself (and the provider's logout). */
const OUR_POLICY = /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self'( http:\/\/127\.0\.0\.1:\d+)*; frame-ancestors 'none'; base-uri 'none'$/;
/** The pages' background (#f3f5f8): the inline style applied. */
const STYLED = 'rgb(243, 245, 248)';

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

it('the accessibility check finds what it should (so that an empty result means something)', async () => {
  const context = await browser.newContext();
  try {
    const ids = (await audit(browser, context, 'data:text/html,<title>x</title><img src="x.png"><input>')).map((violation) => violation.id).sort();
    expect(ids).toEqual(expect.arrayContaining(['html-has-lang', 'image-alt', 'label']));
  } finally {
    await context.close();
  }
});

describe('the demo, walked as a person would', () => {
  let demo: Demo;
  let visits: Map<string, Visit>;
  let meJSON: unknown;
  beforeAll(async () => {
    demo = await startDemo();
    ({ visits, meJSON } = await walkDemo({ browser, site: demo.site }));
  });
  afterAll(async () => {
    await demo?.stop();
  });
  const at = (name: string): Visit => {
    const visit = visits.get(name);
    if (visit === undefined) throw new Error(`the walk did not reach ${name}`);
    return visit;
  };

  it('the sign-in page says it stands in for Cognito and lists the demo users', () => {
    const page = at('signin');
    expect(page.url.startsWith(`${demo.provider}/interaction/`)).toBe(true);
    expect(page.heading).toBe('Sign in');
    expect(page.text).toContain("a local stand-in for Amazon Cognito's managed login");
    expect(page.text).toMatch(/alice\s+alice-password\s+admins, users/);
    expect(page.text).toMatch(/bob\s+bob-password\s+none/);
  });

  it('after sign-in the upstream shows what it received, the assertion verified against the JWKS', () => {
    const page = at('upstream');
    expect(page.url).toBe(`${demo.site}/anything/test`);
    expect(page.heading).toBe('Hello, bob@example.com');
    expect(page.text).toMatch(/x-portcullis-email\s+bob@example\.com/);
    expect(page.text).toContain(`Verified. This upstream checked the assertion's ES256 signature against the keys at ${demo.site}/.well-known/portcullis/jwks.json`);
    expect(page.text).toMatch(/auth\s+session/);
  });

  it('who am I: name, email and whether verified, groups, policy, times, and a sign-out button', () => {
    const page = at('me');
    expect(page.status).toBe(200);
    expect(page.heading).toBe('Signed in as bob');
    expect(page.text).toMatch(/Email\s+bob@example\.comverified/);
    expect(page.text).toMatch(/Groups\s+none/);
    expect(page.text).toMatch(/Policy\s+default\/cognito/);
    expect(page.text).toMatch(/Session expires\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(page.text).toMatch(/Last refreshed\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(page.text).toContain('Sign out');
    expect(page.text).not.toMatch(/eyJ/); // no token, ever
    // The same for an API, as JSON, and never a token.
    expect(meJSON).toEqual({
      name: 'bob',
      subject: '9a3e6d10-2b5c-4f8e-8d1a-6c4b2e9f0d35',
      email: 'bob@example.com',
      emailVerified: true,
      groups: [],
      policy: 'default/cognito',
      signedInAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      refreshedAt: expect.stringMatching(/Z$/),
      expiresAt: expect.stringMatching(/Z$/),
    });
  });

  it('the 403 names the signed-in user and the rule, and offers sign out and another account', () => {
    const page = at('forbidden');
    expect(page.status).toBe(403);
    expect(page.heading).toBe('You do not have access to this page');
    expect(page.text).toContain('You are signed in as bob.');
    expect(page.text).toContain('The caller is in none of the groups this route requires.');
    expect(page.text).toContain('Sign in as someone else');
    expect(page.text).toContain('Sign out');
    expect(page.text).toContain('GROUP_MISSING');
  });

  it('"sign in as someone else" asks the provider for the account again; alice gets in', () => {
    expect(at('signin-again').heading).toBe('Sign in');
    const admin = at('admin');
    expect(admin.url).toBe(`${demo.site}/admin`);
    expect(admin.status).toBe(200);
    expect(admin.heading).toBe('Hello, alice@example.com');
    // Who am I shows the first policy of the host with a session (default/cognito, then
    // default/admins): alice here means bob's session of default/cognito ended at the switch.
    const me = at('me-alice');
    expect(me.heading).toBe('Signed in as alice');
    expect(me.text).toMatch(/Policy\s+default\/admins/);
    expect(me.text).toMatch(/Groups\s+admins\s*users/);
  });

  it('signing out ends on the signed-out page; who am I then offers to sign in', () => {
    const out = at('signed-out');
    expect(out.status).toBe(200);
    expect(out.heading).toBe('You are signed out');
    expect(out.text).toContain('Sign in again');
    expect(out.url).toBe(`${demo.site}/.well-known/portcullis/signed-out`);
    const none = at('not-signed-in');
    expect(none.status).toBe(401);
    expect(none.heading).toBe('Sign in to continue');
    expect(none.text).toContain('You are not signed in on this site.');
    expect(none.text).toMatch(/Request ID\s+[0-9a-f-]{36}/);
  });

  it('a forged callback and a provider refusal are pages with Try again', () => {
    const forged = at('callback-forged');
    expect(forged.status).toBe(400);
    expect(forged.heading).toBe('This sign-in could not be completed');
    expect(forged.text).toContain('Try again');
    const refused = at('provider-error');
    expect(refused.status).toBe(403);
    expect(refused.heading).toBe('The sign-in was refused');
    expect(refused.text).toContain('The identity provider denied the sign-in.');
    expect(refused.text).toContain('Try again');
  });

  it("another site's <img> of \"sign in as someone else\" signs no one out", async () => {
    const attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>cats</title><img src="${demo.site}/.well-known/portcullis/signin?rd=%2F&prompt=login" onload="document.title='done'" onerror="document.title='done'">`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${demo.site}/anything/mine`);
      await page.fill('#username', 'bob');
      await page.fill('#password', 'bob-password');
      await Promise.all([page.waitForURL(`${demo.site}/anything/mine`), page.click('button[type=submit]')]);
      const port = (attacker.address() as AddressInfo).port;
      for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        await page.goto(`${origin}/`);
        await page.waitForFunction("document.title === 'done'");
        const me = await page.request.get(`${demo.site}/.well-known/portcullis/me`, { headers: { accept: 'application/json' } });
        expect({ origin, status: me.status() }).toEqual({ origin, status: 200 });
      }
    } finally {
      await context.close();
      attacker.close();
    }
  });

  it('who am I is read with GET only; the sign-in start returns to a path of this site only', async () => {
    const post = await fetch(`${demo.site}/.well-known/portcullis/me`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${demo.site}/.well-known/portcullis/signin?rd=${encodeURIComponent('//evil.example/x')}`);
      expect(page.url().startsWith(`${demo.provider}/interaction/`)).toBe(true);
      await page.fill('#username', 'bob');
      await page.fill('#password', 'bob-password');
      await Promise.all([page.waitForURL(`${demo.site}/`), page.click('button[type=submit]')]);
    } finally {
      await context.close();
    }
  });

  it('every page passes axe-core with no serious or critical finding', () => {
    expect([...visits.keys()]).toEqual(['signin', 'upstream', 'me', 'forbidden', 'signin-again', 'admin', 'me-alice', 'signed-out', 'not-signed-in', 'callback-forged', 'provider-error']);
    for (const visit of visits.values()) expect({ page: visit.name, violations: visit.violations }).toEqual({ page: visit.name, violations: [] });
  });

  it("every page of the proxy's own is sent with its CSP and renders styled, with nothing refused", () => {
    for (const name of ['me', 'forbidden', 'me-alice', 'signed-out', 'not-signed-in', 'callback-forged', 'provider-error']) {
      const visit = at(name);
      expect({ name, policy: visit.policy }).toEqual({ name, policy: expect.stringMatching(OUR_POLICY) });
      expect({ name, background: visit.background }).toEqual({ name, background: STYLED });
    }
    // Nothing refused on any page, the demo's own included, nor on the way through a sign-out.
    for (const visit of visits.values()) expect({ name: visit.name, refused: visit.policyViolations }).toEqual({ name: visit.name, refused: [] });
  });
});

describe('error pages of upstreams that fail', () => {
  let proxy: PortcullisProcess;
  let echo: EchoServer;
  let closed: Server;
  beforeAll(async () => {
    echo = await startEchoServer();
    // An upstream that accepts connections and closes them without an answer: 502.
    closed = createServer();
    closed.on('connection', (socket) => socket.destroy());
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refusing = `http://127.0.0.1:${await freePort()}`;
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-pages-'));
    writeFileSync(
      join(dir, 'routes.yaml'),
      routeYAML(
        'failing',
        `  rules:
    - matches: [{path: {value: /reset}}]
      backends: [{url: "http://127.0.0.1:${(closed.address() as AddressInfo).port}"}]
    - matches: [{path: {value: /down}}]
      backends: [{url: "${refusing}"}]
    - matches: [{path: {value: /delay}}]
      timeouts: {backendRequest: 200ms}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /guarded}}]
      policyRef: {name: missing}
      backends: [{url: "${echo.url}"}]
`,
      ),
    );
    proxy = await startPortcullis(['standalone', '-f', dir]);
  });
  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
    closed?.close();
  });

  it('a host no browser policy serves has no who-am-I page (404), and the signed-out page needs no policy', async () => {
    const me = await fetch(`${proxy.url}/.well-known/portcullis/me`);
    expect(me.status).toBe(404);
    expect(((await me.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const out = await fetch(`${proxy.url}/.well-known/portcullis/signed-out`, { headers: { accept: 'text/plain' } });
    expect(out.status).toBe(200);
    expect(await out.text()).toContain('You are signed out.');
  });

  it.each([
    ['/reset', 502, 'The service behind this address failed', 'UPSTREAM_'],
    ['/down', 502, 'The service behind this address failed', 'UPSTREAM_CONNECT_FAILED'],
    ['/delay/2000', 504, 'The service behind this address took too long', 'UPSTREAM_TIMEOUT'],
    ['/guarded', 503, 'This service is unavailable right now', 'POLICY_NOT_FOUND'],
  ])('%s: a %i page that says what happened, what to try, and the request id', async (path, status, heading, code) => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const refused: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) refused.push(message.text());
      });
      const response = await page.goto(`${proxy.url}${path}`);
      expect(response?.status()).toBe(status);
      expect((await page.locator('h1').innerText()).trim()).toBe(heading);
      const text = await page.locator('body').innerText();
      expect(text).toContain('Try again in a moment.');
      expect(text).toContain(code);
      expect(text).toContain(`Request ID ${response?.headers()['x-request-id']}`);
      expect(response?.headers()['content-security-policy']).toMatch(OUR_POLICY);
      expect(await page.evaluate(bodyBackground)).toBe(STYLED);
      expect(refused).toEqual([]);
      expect(await audit(browser, context, page.url())).toEqual([]);
      // The same error for an API: the JSON body as ever; for Accept: text/plain, text.
      const json = await page.request.get(`${proxy.url}${path}`, { headers: { accept: 'application/json' } });
      expect(((await json.json()) as { error: { code: string; status: number } }).error).toMatchObject({ status, code: expect.stringContaining(code) });
      const plain = await page.request.get(`${proxy.url}${path}`, { headers: { accept: 'text/plain' } });
      expect(plain.headers()['content-type']).toBe('text/plain; charset=utf-8');
      expect(await plain.text()).toContain(`${status} · `);
    } finally {
      await context.close();
    }
  });
});
