// The pages a person sees from the proxy itself: errors (401, 403, 502, …), who am I, signed out,
// the logout confirmation. One layout and one style for all of them, and each page's text twin
// for `Accept: text/plain`. Pages hold no script and load nothing: the one inline style is
// allowed by its hash in the Content-Security-Policy each page is sent with (pagePolicy), so they
// work offline and under the strictest policy. Every value is HTML-escaped where it is written.
import { createHash } from 'node:crypto';
import type { ConfirmAnswer, ErrorAnswer, IdentityAnswer, NoticeAnswer, PageContext } from '../model/answer.ts';

/** The look of every page of ours. Colours keep at least 4.5:1 contrast (WCAG AA) on their background. */
export const PAGE_STYLE = [
  ':root{color-scheme:light;--ink:#1a1d23;--muted:#4a5160;--line:#d9dde4;--bg:#f3f5f8;--card:#fff;--accent:#1d4ed8;--accent-dark:#1e3a8a;--warn:#9a3412;--ok:#166534}',
  '*{box-sizing:border-box}',
  'body{margin:0;background:var(--bg);color:var(--ink);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}',
  'header,footer{max-width:44rem;margin:0 auto;padding:1.25rem 1.25rem 0;display:flex;align-items:center;gap:.6rem;color:var(--muted)}',
  'footer{padding:0 1.25rem 2rem;font-size:.875rem;display:block}',
  '.brand{font-weight:700;color:var(--ink);letter-spacing:.01em}',
  '.brand svg{vertical-align:-4px;margin-right:.4rem}',
  'main{max-width:44rem;margin:1rem auto;padding:0 1.25rem}',
  '.card{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1.75rem 2rem;box-shadow:0 1px 2px rgb(0 0 0/.04)}',
  '.eyebrow{margin:0;font-size:.8125rem;font-weight:600;letter-spacing:.06em;text-transform:uppercase;color:var(--muted)}',
  '.error .eyebrow{color:var(--warn)}',
  'h1{margin:.25rem 0 .75rem;font-size:1.6rem;line-height:1.25}',
  'h2{margin:1.5rem 0 .5rem;font-size:1rem}',
  'p{margin:.5rem 0}',
  '.who{padding:.75rem 1rem;background:var(--bg);border-radius:.5rem}',
  'dl{display:grid;grid-template-columns:minmax(8rem,auto) 1fr;gap:.45rem 1.25rem;margin:1rem 0}',
  'dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}',
  'ul.tags{list-style:none;display:flex;flex-wrap:wrap;gap:.35rem;margin:0;padding:0}',
  'ul.tags li{background:#e8eefc;color:var(--accent-dark);border-radius:1rem;padding:0 .6rem;font-size:.875rem}',
  '.badge{display:inline-block;margin-left:.4rem;font-size:.8125rem;font-weight:600}.badge.ok{color:var(--ok)}.badge.no{color:var(--warn)}',
  '.actions{display:flex;flex-wrap:wrap;align-items:center;gap:.75rem;margin:1.5rem 0 .25rem}',
  '.actions form{margin:0}',
  '.button{display:inline-block;font:inherit;font-weight:600;padding:.55rem 1.2rem;border-radius:.45rem;border:1px solid var(--accent);background:var(--accent);color:#fff;text-decoration:none;cursor:pointer}',
  '.button:hover{background:var(--accent-dark);border-color:var(--accent-dark)}',
  '.button.secondary{background:var(--card);color:var(--accent)}',
  '.button.secondary:hover{background:#e8eefc}',
  'a{color:var(--accent)}',
  ':focus-visible{outline:3px solid #f59e0b;outline-offset:2px}',
  'code{font:.875em ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);padding:.1rem .3rem;border-radius:.25rem}',
].join('');

const STYLE_HASH = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;

/**
 * The policy every page of ours is sent with: its own style only, no script, nothing loaded, no
 * framing by any site, and forms that post to this origin only — plus, when a form's answer
 * redirects on (sign-out goes through the provider's logout), those origins: browsers apply
 * form-action to the redirects that follow a submission too.
 */
export function pagePolicy(formOrigins: readonly string[] = []): string {
  const formAction = ["'self'", ...formOrigins.filter((origin) => /^https?:\/\/[^\s;,']+$/.test(origin))].join(' ');
  return `default-src 'none'; style-src ${STYLE_HASH}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

export const STATUS_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** What happened, in the words of the person who sees it; the sign-in errors by their code. */
const HEADLINES_BY_CODE: Readonly<Record<string, string>> = {
  SIGNIN_STATE_MISMATCH: 'This sign-in could not be completed',
  SIGNIN_DENIED: 'The sign-in was refused',
  SIGNIN_REQUIRED_AT_PROVIDER: 'Sign in at the identity provider first',
  SIGNIN_REJECTED: 'The sign-in failed',
  SIGNIN_FAILED: 'The sign-in failed',
  PROVIDER_UNAVAILABLE: 'The sign-in service is unavailable',
  SESSION_STORE_UNAVAILABLE: 'Sessions are unavailable right now',
  POLICY_NOT_READY: 'Sign-in is not available yet',
};

const HEADLINES_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'This request cannot be served',
  401: 'Sign in to continue',
  403: 'You do not have access to this page',
  404: 'There is nothing here',
  405: 'This address does not take that kind of request',
  408: 'The request took too long to arrive',
  500: 'Something went wrong',
  502: 'The service behind this address failed',
  503: 'This service is unavailable right now',
  504: 'The service behind this address took too long',
};

/** What to try next, by status. */
const ADVICE: Readonly<Record<number, string>> = {
  400: 'Check the address, or go back and try again.',
  401: 'Sign in, then open this page again.',
  403: 'If you need access, ask the people who run this site to grant it, or sign in with another account.',
  404: 'Check the address.',
  408: 'Check your connection and try again.',
  500: 'Try again in a moment. If it keeps happening, tell the people who run this site and give them the request ID below.',
  502: 'Try again in a moment. If it keeps happening, tell the people who run this site and give them the request ID below.',
  503: 'Try again in a moment. If it keeps happening, tell the people who run this site and give them the request ID below.',
  504: 'Try again in a moment. If it keeps happening, tell the people who run this site and give them the request ID below.',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A small portcullis (a gate's grille), drawn inline: pages load nothing. */
const LOGO =
  '<svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2" d="M3 18V5a7 3 0 0 1 14 0v13M7 3.5V18M10 3V18M13 3.5V18M3 9h14M3 13.5h14"/></svg>';

interface Layout {
  readonly title: string;
  /** Above the heading, small: e.g. "403 · Forbidden". */
  readonly eyebrow: string;
  readonly heading: string;
  /** HTML, every value in it already escaped. */
  readonly body: string;
  readonly tone: 'error' | 'info';
  readonly requestId: string;
}

function layout(page: Layout): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(page.title)}</title>
<style>${PAGE_STYLE}</style>
</head><body>
<header><span class="brand">${LOGO}Portcullis</span></header>
<main><div class="card ${page.tone}">
<div class="eyebrow">${escapeHtml(page.eyebrow)}</div>
<h1>${escapeHtml(page.heading)}</h1>
${page.body}
</div></main>
<footer><p>Request ID <code>${escapeHtml(page.requestId)}</code></p></footer>
</body></html>
`;
}

function signOutForm(action: string, label = 'Sign out', secondary = false): string {
  return `<form method="post" action="${escapeHtml(action)}"><button class="button${secondary ? ' secondary' : ''}" type="submit">${escapeHtml(label)}</button></form>`;
}

function linkButton(href: string, label: string, secondary = true): string {
  return `<a class="button${secondary ? ' secondary' : ''}" href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;
}

function actions(context: PageContext): string {
  const items: string[] = [];
  if (context.tryAgain !== undefined) items.push(linkButton(context.tryAgain, 'Try again', false));
  if (context.signIn !== undefined) items.push(linkButton(context.signIn, 'Sign in', false));
  if (context.switchAccount !== undefined) items.push(linkButton(context.switchAccount, 'Sign in as someone else', false));
  if (context.signOut !== undefined) items.push(signOutForm(context.signOut, 'Sign out', true));
  return items.length === 0 ? '' : `<div class="actions">${items.join('')}</div>`;
}

function statusLine(status: number): string {
  return `${status} · ${STATUS_TITLES[status] ?? 'Error'}`;
}

function headline(answer: ErrorAnswer): string {
  return HEADLINES_BY_CODE[answer.code] ?? HEADLINES_BY_STATUS[answer.status] ?? 'This request cannot be served';
}

export function errorPage(answer: ErrorAnswer, requestId: string): string {
  const context = answer.page ?? {};
  const who = context.user === undefined ? '' : `<p class="who">You are signed in as <strong>${escapeHtml(context.user)}</strong>.</p>`;
  // A page with its own way on (Try again) says what to do in its message: no general advice.
  const advice = context.tryAgain === undefined ? ADVICE[answer.status] : undefined;
  const body = `${who}
<p>${escapeHtml(answer.message)}</p>
${advice === undefined ? '' : `<p>${escapeHtml(advice)}</p>`}
${actions(context)}
<p><small>Code <code>${escapeHtml(answer.code)}</code></small></p>`;
  return layout({ title: `${headline(answer)} · ${statusLine(answer.status)}`, eyebrow: statusLine(answer.status), heading: headline(answer), body, tone: 'error', requestId });
}

export function errorText(answer: ErrorAnswer, requestId: string): string {
  const context = answer.page ?? {};
  const lines = [`${statusLine(answer.status)}: ${headline(answer)}.`, ''];
  if (context.user !== undefined) lines.push(`Signed in as ${context.user}.`);
  lines.push(answer.message);
  const advice = context.tryAgain === undefined ? ADVICE[answer.status] : undefined;
  if (advice !== undefined) lines.push(advice);
  lines.push('', `Code: ${answer.code}`, `Request ID: ${requestId}`);
  return `${lines.join('\n')}\n`;
}

/** "2026-11-30 14:03 UTC": the same for every reader, and unambiguous. */
function when(iso: string | null): string {
  if (iso === null) return 'unknown';
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(`${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`)}</time>`;
}

export function identityPage(answer: IdentityAnswer, requestId: string): string {
  const id = answer.identity;
  const badge = id.emailVerified ? '<span class="badge ok">verified</span>' : '<span class="badge no">not verified</span>';
  const email = id.email === null ? 'none' : `${escapeHtml(id.email)}${badge}`;
  const groups = id.groups.length === 0 ? 'none' : `<ul class="tags">${id.groups.map((group) => `<li>${escapeHtml(group)}</li>`).join('')}</ul>`;
  const body = `<dl>
<dt>Name</dt><dd>${escapeHtml(id.name)}</dd>
<dt>Email</dt><dd>${email}</dd>
<dt>Groups</dt><dd>${groups}</dd>
<dt>Subject</dt><dd><code>${escapeHtml(id.subject)}</code></dd>
<dt>Policy</dt><dd><code>${escapeHtml(id.policy)}</code></dd>
<dt>Signed in</dt><dd>${when(id.signedInAt)}</dd>
<dt>Last refreshed</dt><dd>${when(id.refreshedAt)}</dd>
<dt>Session expires</dt><dd>${when(id.expiresAt)}</dd>
</dl>
<div class="actions">${signOutForm(answer.signOut)}</div>`;
  return layout({ title: `Signed in as ${id.name} · Portcullis`, eyebrow: 'Your session', heading: `Signed in as ${id.name}`, body, tone: 'info', requestId });
}

export function identityText(answer: IdentityAnswer): string {
  const id = answer.identity;
  const lines = [
    `Signed in as ${id.name}.`,
    '',
    `Name: ${id.name}`,
    `Email: ${id.email === null ? 'none' : `${id.email} (${id.emailVerified ? 'verified' : 'not verified'})`}`,
    `Groups: ${id.groups.length === 0 ? 'none' : id.groups.join(', ')}`,
    `Subject: ${id.subject}`,
    `Policy: ${id.policy}`,
    `Signed in: ${id.signedInAt}`,
    `Last refreshed: ${id.refreshedAt ?? 'unknown'}`,
    `Session expires: ${id.expiresAt}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The JSON of who am I: the summary as it is, never a token. */
export function identityJSON(answer: IdentityAnswer): string {
  return `${JSON.stringify(answer.identity)}\n`;
}

export function noticePage(answer: NoticeAnswer, requestId: string): string {
  const links = answer.links.map((link, i) => linkButton(link.href, link.label, i > 0)).join('');
  const body = `<p>${escapeHtml(answer.message)}</p>${links === '' ? '' : `<div class="actions">${links}</div>`}`;
  return layout({ title: `${answer.title} · Portcullis`, eyebrow: answer.eyebrow, heading: answer.title, body, tone: 'info', requestId });
}

export function noticeText(answer: NoticeAnswer): string {
  return `${answer.title}.\n\n${answer.message}\n`;
}

export function confirmPage(answer: ConfirmAnswer, requestId: string): string {
  const body = `<p>${escapeHtml(answer.message)}</p>
<div class="actions">${signOutForm(answer.action, answer.button)}${linkButton(answer.cancel.href, answer.cancel.label)}</div>`;
  return layout({ title: answer.title, eyebrow: 'Please confirm', heading: answer.title, body, tone: 'info', requestId });
}
