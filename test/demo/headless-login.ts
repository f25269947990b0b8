// Signs in to the local OpenID provider without a browser: a cookie jar, redirects followed by
// hand (so each hop is visible), the login form posted like a browser would. For provider
// tests; the browser tests drive the same form in Chromium.

import { createHash, randomBytes } from 'node:crypto';

export interface HeadlessBrowser {
  /** One request with the jar's cookies; redirects are not followed. */
  request(url: string, init?: { method?: string; form?: Record<string, string> }): Promise<Response>;
  /** Follows redirects from `url` until one leaves the provider (`stopAt` origin) or a page answers. */
  follow(url: string, stopAt: string): Promise<{ url: string; response: Response | null }>;
  readonly cookies: ReadonlyMap<string, string>;
}

export function headlessBrowser(): HeadlessBrowser {
  const cookies = new Map<string, string>();
  async function request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (cookies.size > 0) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, {
      method: init.method ?? (init.form === undefined ? 'GET' : 'POST'),
      headers,
      body: init.form === undefined ? undefined : new URLSearchParams(init.form).toString(),
      redirect: 'manual',
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return response;
  }
  async function follow(url: string, stopAt: string): Promise<{ url: string; response: Response | null }> {
    let current = url;
    for (let hop = 0; hop < 10; hop += 1) {
      if (!current.startsWith(stopAt)) return { url: current, response: null };
      const response = await request(current);
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || location === null) return { url: current, response };
      await response.body?.cancel();
      current = new URL(location, current).href;
    }
    throw new Error(`too many redirects from ${url}`);
  }
  return { request, follow, cookies };
}

export interface CodeFlowRequest {
  readonly authorizationEndpoint: string;
  readonly clientId: string;
  readonly redirectURI: string;
  readonly scope?: string;
  readonly username: string;
  readonly password: string;
  /** More authorization parameters (`prompt`, `identity_provider`, …). */
  readonly extraParams?: Readonly<Record<string, string>>;
  /** Reuse a browser to keep the provider's session cookie (sign-in without the form). */
  readonly browser?: HeadlessBrowser;
}

export interface CodeFlowResult {
  readonly code: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** The redirect back to the client, as the provider sent it. */
  readonly callbackURL: URL;
  readonly browser: HeadlessBrowser;
  /** Whether the login form was shown (false when the provider's session was still valid). */
  readonly formShown: boolean;
}

/** Authorization request with PKCE S256, state and nonce; the form filled; the code returned. */
export async function signInHeadless(request: CodeFlowRequest): Promise<CodeFlowResult> {
  const browser = request.browser ?? headlessBrowser();
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const codeVerifier = randomBytes(32).toString('base64url');
  const authorize = new URL(request.authorizationEndpoint);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: request.clientId,
    redirect_uri: request.redirectURI,
    scope: request.scope ?? 'openid email profile',
    state,
    nonce,
    code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...request.extraParams,
  }).toString();
  const providerOrigin = authorize.origin;

  let formShown = false;
  let step = await browser.follow(authorize.href, providerOrigin);
  if (step.response !== null) {
    const page = await step.response.text();
    const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
    if (step.response.status !== 200 || action === undefined) throw new Error(`expected the login form at ${step.url}, got ${step.response.status}: ${page.slice(0, 300)}`);
    formShown = true;
    const submitted = await browser.request(new URL(action, step.url).href, { form: { username: request.username, password: request.password } });
    const location = submitted.headers.get('location');
    if (submitted.status !== 303 || location === null) throw new Error(`login form answered ${submitted.status}: ${(await submitted.text()).slice(0, 2000)}`);
    step = await browser.follow(new URL(location, action.startsWith('http') ? action : providerOrigin).href, providerOrigin);
  }
  if (step.response !== null) throw new Error(`expected a redirect to the client, stayed at ${step.url} (${step.response.status})`);
  const callbackURL = new URL(step.url);
  const code = callbackURL.searchParams.get('code');
  if (code === null) throw new Error(`no code in ${callbackURL.href}`);
  if (callbackURL.searchParams.get('state') !== state) throw new Error('state mismatch');
  return { code, state, nonce, codeVerifier, callbackURL, browser, formShown };
}
