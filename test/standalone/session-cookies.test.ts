// A re-sealed session and an upstream that sets cookies, with the real `portcullis standalone`
// process and the Cognito-like provider: a user signs in through the provider's form (a cookie jar
// and node:http, no browser), the idle timeout moves (the session is re-sealed: a new Set-Cookie
// from the proxy) on a request whose upstream sets cookies of its own, one of them named like the
// proxy's session. The client gets the re-sealed session and the upstream's own cookie, never
// the upstream's copy of ours, and stays signed in.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCognitoLikeProvider, type CognitoLikeProvider } from '../../src/demo/provider.ts';
import { DEMO_USERS } from '../../src/demo/users.ts';
import { startEchoServer, type EchoServer, type EchoRecord } from '../support/echo-server.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { freePort } from '../support/ports.ts';
import { send } from '../proxy/harness.ts';

/** The session is re-sealed when a request comes a tenth of the idle timeout after the last re-seal: here 1 s. */
const IDLE_TIMEOUT_S = 10;

let echo: EchoServer;
let idp: CognitoLikeProvider;
let proxy: PortcullisProcess;
let site: string;

beforeAll(async () => {
  const port = await freePort();
  site = `http://127.0.0.1:${port}`;
  [echo, idp] = await Promise.all([startEchoServer(), startCognitoLikeProvider({ webClient: { redirectURIs: [`${site}/oauth2/callback`] } })]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-session-cookies-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    secretYAML('web', { 'client-secret': idp.clients.web.clientSecret }) +
      policyYAML('web', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: web, key: client-secret}
  scopes: [openid, email, profile]
  browser: {session: {cookieName: _sess, idleTimeout: ${IDLE_TIMEOUT_S}s}}`) +
      routeYAML('app', `  policyRef: {name: web}
  rules: [{matches: [{path: {value: /response-headers}}], backends: [{url: "${echo.url}"}]}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen', `127.0.0.1:${port}`]);
  await proxy.waitForLog((line) => line.policy === 'default/web' && line.condition === 'Ready' && line.status === 'True');
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), idp?.close()]);
});

/**
 * Enough of a browser for the code flow: a cookie jar (one host, every path), redirects by hand,
 * requests that say they are navigations (node:http: fetch() says `Sec-Fetch-Mode: cors`).
 */
function cookieJar() {
  const cookies = new Map<string, string>();
  return {
    cookies,
    /** Requests `url` as a navigation, sending and keeping cookies; answers the response and its Set-Cookie lines. */
    async navigate(url: string, init: { form?: Record<string, string> } = {}) {
      const headers: Record<string, string> = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
      if (cookies.size > 0) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const body = init.form === undefined ? undefined : Buffer.from(new URLSearchParams(init.form).toString());
      const response = await send(url, { method: body === undefined ? 'GET' : 'POST', headers, ...(body === undefined ? {} : { body }) });
      const setCookies = response.headers['set-cookie'] ?? [];
      for (const line of setCookies) {
        const pair = line.split(';')[0]!;
        const name = pair.slice(0, pair.indexOf('=')).trim();
        const value = pair.slice(pair.indexOf('=') + 1).trim();
        if (value === '' || /max-age=0/i.test(line)) cookies.delete(name);
        else cookies.set(name, value);
      }
      return { response, setCookies };
    },
  };
}

/** Signs in at `url` through the provider's form; resolves once the proxy has sent the browser back to `url`. */
async function signIn(jar: ReturnType<typeof cookieJar>, url: string): Promise<void> {
  let next = url;
  for (let hop = 0; hop < 12; hop++) {
    const { response } = await jar.navigate(next);
    const location = response.headers.location;
    if (response.status === 200 && next.startsWith(idp.origin)) {
      const page = response.body.toString();
      const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
      if (action === undefined) throw new Error(`No sign-in form at ${next}: ${page.slice(0, 300)}`);
      const submitted = await jar.navigate(new URL(action, next).href, { form: { username: DEMO_USERS[0]!.username, password: DEMO_USERS[0]!.password } });
      next = new URL(submitted.response.headers.location!, next).href;
      continue;
    }
    if (location === undefined) throw new Error(`${next} answered ${response.status} without a redirect.`);
    next = new URL(location, next).href;
    if (next === url) return;
  }
  throw new Error('Too many redirects while signing in.');
}

const sessionLines = (lines: readonly string[]) => lines.filter((line) => /^_sess(_\d+)?=/.test(line));

describe('a re-sealed session beside the upstream\'s cookies', () => {
  it('the client gets both (never the upstream\'s copy of ours) and stays signed in', async () => {
    const jar = cookieJar();
    const target = `${site}/response-headers?${['app=1; Path=/', '_sess=chosen-by-the-upstream; Path=/'].map((line) => `set-cookie=${encodeURIComponent(line)}`).join('&')}`;
    await signIn(jar, target);
    const signedIn = jar.cookies.get('_sess');
    expect(signedIn).toBeDefined();

    // Past a tenth of the idle timeout (and a second boundary): this request moves it, so the session is re-sealed.
    await sleep(2_100);
    const { response, setCookies } = await jar.navigate(target);
    expect(response.status).toBe(200);
    expect(setCookies).toContain('app=1; Path=/');
    expect(setCookies.filter((line) => line.includes('chosen-by-the-upstream'))).toEqual([]);
    expect(sessionLines(setCookies)).toHaveLength(1);
    expect(jar.cookies.get('_sess')).not.toBe(signedIn);
    const seen = JSON.parse(response.body.toString()) as EchoRecord;
    expect(seen.headers.cookie ?? '').not.toMatch(/(^|;\s*)_sess(_\d+)?=/);

    // The re-sealed session is a session: the next request is served, with no sign-in (and,
    // should a slow machine make it a second later, re-sealed again rather than cleared).
    const again = await jar.navigate(`${site}/response-headers?x=1`);
    expect(again.response.status).toBe(200);
    expect(sessionLines(again.setCookies).filter((line) => /max-age=0/i.test(line))).toEqual([]);
  });
});
