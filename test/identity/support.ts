// What the identity suites share: requests with a Host of the test's choosing (fetch() drops
// it), a sign-in through the proxy without a browser (the provider's own form, posted as a
// browser would), and assertion keys as files.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK } from 'jose';

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * One request through node:http, so that headers are sent as given (fetch() drops `host` and
 * sets its own `sec-fetch-mode`).
 */
export function send(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** What the echo upstream saw of a request: its headers. */
export function upstreamHeaders(answer: Answer): Record<string, string | undefined> {
  if (answer.status !== 200) throw new Error(`expected the upstream's 200, got ${answer.status}: ${answer.body.slice(0, 300)}`);
  return (JSON.parse(answer.body) as { headers: Record<string, string | undefined> }).headers;
}

/**
 * Signs `user` in through the proxy's browser flow (a navigation to `path`, the provider's form,
 * the callback) and answers the Cookie header of the session. One jar for both origins: they
 * are both 127.0.0.1, and cookies know no ports.
 */
export async function signInThroughProxy(site: string, path: string, user: { readonly username: string; readonly password: string }): Promise<string> {
  const jar = new Map<string, string>();
  const hop = async (url: string, form?: Record<string, string>): Promise<Answer> => {
    const headers: Record<string, string> = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
    if (jar.size > 0) headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const answer = await send(url, headers, form === undefined ? 'GET' : 'POST', form === undefined ? undefined : new URLSearchParams(form).toString());
    for (const line of answer.headers['set-cookie'] ?? []) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    return answer;
  };

  let url = `${site}${path}`;
  let response = await hop(url);
  for (let step = 0; step < 20; step++) {
    const location = response.headers.location;
    if (response.status >= 300 && response.status < 400 && typeof location === 'string') {
      url = new URL(location, url).href;
      response = await hop(url);
      continue;
    }
    const page = response.body;
    const form = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
    if (response.status === 200 && form !== undefined) {
      url = new URL(form.replaceAll('&amp;', '&'), url).href;
      response = await hop(url, { username: user.username, password: user.password });
      continue;
    }
    // A page of ours that continues with a refresh (SameSite=Strict sessions), or the upstream.
    const next = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(page)?.[1];
    if (next !== undefined) {
      url = new URL(next.replaceAll('&amp;', '&'), url).href;
      response = await hop(url);
      continue;
    }
    if (response.status !== 200 || !url.startsWith(`${site}${path}`)) throw new Error(`sign-in stopped at ${url} with ${response.status}: ${page.slice(0, 300)}`);
    return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  throw new Error(`sign-in through ${site}${path} took too many steps`);
}

export interface KeyFile {
  readonly pem: string;
  /** The RFC 7638 thumbprint, computed by jose: what the kid must be. */
  readonly kid: string;
}

/** A new EC P-256 private key in PEM (SEC 1 as Helm writes it, or PKCS #8 as openssl genpkey does). */
export async function newKey(format: 'sec1' | 'pkcs8' = 'pkcs8'): Promise<KeyFile> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { pem: privateKey.export({ format: 'pem', type: format }) as string, kid };
}

export function writeKeys(dir: string, name: string, keys: readonly KeyFile[]): string {
  const file = join(dir, name);
  writeFileSync(file, keys.map((key) => key.pem).join(''), { mode: 0o600 });
  return file;
}
