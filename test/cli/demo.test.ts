// `portcullis demo`, run as a person would, then the machine-to-machine commands it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI, REPO_ROOT } from '../support/cli.ts';
import { freePorts } from '../support/ports.ts';
import { fillLoginForm, launchChromium } from '../browser/support.ts';


let demo: ChildProcess;
let instructions = '';
let site = '';

beforeAll(async () => {
  const [proxy, ops, provider, upstream] = (await freePorts(4)) as [number, number, number, number];
  demo = spawn(CLI, ['demo', '--port', String(proxy), '--ops-port', String(ops), '--provider-port', String(provider), '--upstream-port', String(upstream), '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  demo.stderr!.on('data', (chunk: Buffer) => (instructions += chunk.toString()));
  for (let i = 0; i < 300 && !instructions.includes('Ctrl-C stops everything.'); i++) await new Promise((r) => setTimeout(r, 50));
  site = `http://127.0.0.1:${proxy}`;
});

afterAll(async () => {
  if (demo.exitCode === null) {
    demo.kill('SIGTERM');
    await once(demo, 'exit');
  }
});

describe('portcullis demo', () => {
  it('prints the URL to open, the demo users and the curl commands', () => {
    expect(instructions).toContain(`open ${site}/anything/test`);
    expect(instructions).toMatch(/alice \/ alice-password/);
    expect(instructions).toMatch(/grant_type=client_credentials/);
    expect(instructions).toContain(`${site}/.well-known/portcullis/jwks.json`);
  });

  it('serves the machine-to-machine walkthrough exactly as printed', async () => {
    const credentials = /curl -s -u '([^:']+):([^']+)'/.exec(instructions)!;
    const tokenEndpoint = /\n\s+(http:\/\/127\.0\.0\.1:\d+\/oauth2\/token) \|/.exec(instructions)![1]!;
    const scope = /-d scope=(\S+)/.exec(instructions)![1]!;
    const tokenResponse = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${credentials[1]}:${credentials[2]}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
    });
    expect(tokenResponse.status).toBe(200);
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };

    const ok = await fetch(`${site}/anything/test`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    const seen = (await ok.json()) as { identity: { subject: string; clientId: string; assertionClaims: Record<string, unknown> } };
    expect(seen).toMatchObject({ path: '/anything/test', headers: { 'x-client-id': credentials[1] } });
    // The upstream shows who called: the default headers and the assertion's claims.
    expect(seen.identity).toMatchObject({ subject: credentials[1], clientId: credentials[1], assertionClaims: { sub: credentials[1], auth: 'bearer', aud: '127.0.0.1', scope } });

    const invalid = await fetch(`${site}/anything/test`, { headers: { authorization: 'Bearer invalid_token' } });
    expect(invalid.status).toBe(401);
    expect(invalid.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect((await fetch(`${site}/anything/test`)).status).toBe(401);
  });

  it('lets a person sign in with a browser and sign out, as the instructions say', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${site}/anything/test`);
      expect(await page.locator('#username').count()).toBe(1); // the provider's own sign-in form
      const landed = await fillLoginForm(page, { username: 'alice', password: 'alice-password' });
      expect(landed?.status()).toBe(200);
      expect(page.url()).toBe(`${site}/anything/test`);
      // A browser gets the upstream's page: what came from Portcullis, the assertion verified.
      await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Hello, alice@example.com');
      const headers = await page.locator('section', { hasText: 'Identity headers' }).innerText();
      expect(headers).toMatch(/x-user-email\s+alice@example\.com/);
      expect(headers).toMatch(/x-user-groups\s+admins,users/);
      expect(await page.locator('section', { hasText: 'signed assertion' }).innerText()).toContain('Verified.');
      // curl (no Accept: text/html) still gets the JSON echo.
      const json = await page.request.get(`${site}/anything/test`, { headers: { accept: 'application/json' } });
      expect(((await json.json()) as { headers: Record<string, string> }).headers['x-user-email']).toBe('alice@example.com');
      await page.goto(`${site}/oauth2/logout`);
      await page.goto(`${site}/anything/again`);
      expect(await page.locator('#username').count()).toBe(1); // signed out: asked to sign in again
    } finally {
      await browser.close();
    }
  }, 60_000);
});
