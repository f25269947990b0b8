// The demo upstream's answer to a browser: a page showing what it received from Portcullis — the
// identity headers, and the claims of X-Portcullis-Assertion once it has verified the assertion
// against the proxy's JWKS (signature, ES256, issuer, audience, expiry), as any upstream should
// before trusting it (docs/identity.md). curl and fetch() still get the JSON echo.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { escapeHTML } from './http.ts';

export interface EchoPageOptions {
  /** Where the proxy serves its assertion keys, e.g. `http://127.0.0.1:8080/.well-known/portcullis/jwks.json`. */
  readonly jwksURL: string;
  /** The assertions' `iss` (`--assertion-issuer`). */
  readonly issuer: string;
  /** The proxy's logout path, for the sign-out button. */
  readonly logoutPath: string;
}

export interface EchoPages {
  /** The page for a request whose headers these are. */
  render(method: string, path: string, headers: IncomingHttpHeaders): Promise<{ html: string; policy: string }>;
}

const STYLE = [
  '*{box-sizing:border-box}',
  'body{margin:0;background:#f3f5f8;color:#1a1d23;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}',
  'header{background:#0f766e;color:#fff;padding:.75rem 1.25rem;font-weight:600}header span{font-weight:400;margin-left:.5rem}',
  'main{max-width:52rem;margin:1.5rem auto;padding:0 1.25rem}',
  'section{background:#fff;border:1px solid #d9dde4;border-radius:.75rem;padding:1.25rem 1.5rem;margin-bottom:1rem}',
  'h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin:0 0 .75rem}',
  'table{width:100%;border-collapse:collapse;font-size:.925rem}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #e5e7eb;overflow-wrap:anywhere}th{width:30%}',
  'code{font:.875em ui-monospace,SFMono-Regular,Menlo,monospace}',
  '.ok{color:#166534;font-weight:600}.no{color:#9a3412;font-weight:600}',
  '.actions{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center}.actions form{margin:0}',
  '.button{display:inline-block;font:inherit;font-weight:600;padding:.5rem 1.1rem;border-radius:.45rem;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;text-decoration:none;cursor:pointer}',
  '.button.secondary{background:#fff;color:#1d4ed8}',
  'a{color:#1d4ed8}:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}',
].join('');
const POLICY = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'`;

export function createEchoPages(options: EchoPageOptions): EchoPages {
  const keys = createRemoteJWKSet(new URL(options.jwksURL));

  async function verify(assertion: string | undefined, host: string): Promise<{ claims: JWTPayload | null; problem: string | null }> {
    if (assertion === undefined) return { claims: null, problem: 'No X-Portcullis-Assertion came with this request.' };
    try {
      const { payload } = await jwtVerify(assertion, keys, { issuer: options.issuer, audience: host, algorithms: ['ES256'] });
      return { claims: payload, problem: null };
    } catch (error) {
      return { claims: null, problem: `The assertion did not verify: ${(error as Error).message}` };
    }
  }

  return {
    async render(method, path, headers) {
      const host = (headers.host ?? '').replace(/:\d+$/, '').replace(/\.$/, '').toLowerCase();
      const assertion = typeof headers['x-portcullis-assertion'] === 'string' ? headers['x-portcullis-assertion'] : undefined;
      const { claims, problem } = await verify(assertion, host);
      const identity = Object.entries(headers)
        .filter(([name]) => name.startsWith('x-portcullis-') || name.startsWith('x-user-') || name === 'x-client-id')
        .filter(([name]) => name !== 'x-portcullis-assertion')
        .sort(([a], [b]) => a.localeCompare(b));
      const headerRows = identity.length === 0 ? '<tr><td colspan="2">No identity headers: this request came through a public rule, or not through Portcullis.</td></tr>' : identity.map(([name, value]) => `<tr><th scope="row"><code>${escapeHTML(name)}</code></th><td>${escapeHTML(String(value))}</td></tr>`).join('');
      const claimRows = claims === null ? '' : Object.entries(claims).map(([name, value]) => `<tr><th scope="row"><code>${escapeHTML(name)}</code></th><td>${escapeHTML(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`).join('');
      const verdict =
        claims === null
          ? `<p class="no">${escapeHTML(problem ?? '')}</p>`
          : `<p><span class="ok">Verified.</span> This upstream checked the assertion's ES256 signature against the keys at <code>${escapeHTML(options.jwksURL)}</code>, its issuer <code>${escapeHTML(options.issuer)}</code>, its audience <code>${escapeHTML(host)}</code> and its expiry before showing its claims.</p>`;
      const who = claims !== null && typeof claims.sub === 'string' ? (typeof claims.email === 'string' ? claims.email : claims.sub) : null;
      const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Demo upstream · ${escapeHTML(method)} ${escapeHTML(path)}</title>
<style>${STYLE}</style></head><body>
<header>Demo upstream<span>an application behind Portcullis</span></header>
<main>
<section aria-labelledby="summary"><h1 id="summary">${who === null ? 'Hello' : `Hello, ${escapeHTML(who)}`}</h1>
<p>This page is the application behind Portcullis. It shows what it received with <code>${escapeHTML(method)} ${escapeHTML(path)}</code>. <code>curl</code> gets the same as JSON.</p>
<div class="actions"><a class="button" href="/.well-known/portcullis/me">Who am I</a><form method="post" action="${escapeHTML(options.logoutPath)}"><button class="button secondary" type="submit">Sign out</button></form></div></section>
<section aria-labelledby="headers"><h2 id="headers">Identity headers</h2><table>${headerRows}</table></section>
<section aria-labelledby="claims"><h2 id="claims">The signed assertion (X-Portcullis-Assertion)</h2>${verdict}${claimRows === '' ? '' : `<table>${claimRows}</table>`}</section>
</main></body></html>
`;
      return { html, policy: POLICY };
    },
  };
}
