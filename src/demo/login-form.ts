// The provider's sign-in page: one HTML form (username, password, a submit button), easy to fill
// in Chromium and to post from a test with a cookie jar. It says what it is — a local stand-in
// for Cognito's managed login — and lists the demo users, so that nobody has to look them up. oidc-provider sends the
// browser here (GET /interaction/<uid>, with its signed interaction cookie); the form posts to
// /interaction/<uid>/login; on success oidc-provider resumes the authorization request and
// redirects to the client with a code. There is no consent step: like Cognito, the provider
// grants what the client asked for (see loadExistingGrant in provider.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Provider } from 'oidc-provider';
import { escapeHTML, readForm, sendHTML } from './http.ts';
import type { DemoUser } from './users.ts';

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/;

/** Answers the request and returns true when it is one of the sign-in page's own. */
export async function handleLoginForm(provider: Provider, users: readonly DemoUser[], req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  const match = INTERACTION_PATH.exec(path);
  if (match === null) return false;
  const [, uid = '', login] = match;
  const isSubmit = login !== undefined;
  if (req.method !== (isSubmit ? 'POST' : 'GET')) {
    sendHTML(res, 405, page('Sign in', '<p>Method not allowed.</p>', users));
    return true;
  }

  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    sendHTML(res, 400, page('Sign in', '<p>This sign-in attempt has expired or is unknown. Go back to the application and start again.</p>', users));
    return true;
  }
  // The interaction cookie names one attempt; a form of another attempt must not finish it.
  if (details.uid !== uid || (details.prompt.name !== 'login' && details.prompt.name !== 'consent')) {
    sendHTML(res, 400, page('Sign in', '<p>This sign-in attempt does not match this page. Start again.</p>', users));
    return true;
  }
  if (details.prompt.name === 'consent') {
    // Only `prompt=consent` gets here. Cognito has no consent screen: loadExistingGrant has
    // already granted what the client asked for, so the answer is yes.
    await provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
    return true;
  }

  if (!isSubmit) {
    sendHTML(res, 200, loginPage(uid, {}, users));
    return true;
  }
  const form = await readForm(req);
  const username = form.get('username') ?? '';
  const user = users.find((u) => u.username === username && u.password === (form.get('password') ?? ''));
  if (user === undefined) {
    sendHTML(res, 401, loginPage(uid, { username, error: 'Incorrect username or password.' }, users));
    return true;
  }
  await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  return true;
}

export function loginPage(uid: string, state: { username?: string; error?: string } = {}, users: readonly DemoUser[] = []): string {
  const error = state.error === undefined ? '' : `<p id="loginErrorMessage" class="error" role="alert">${escapeHTML(state.error)}</p>`;
  return page(
    'Sign in',
    `${error}
<form method="post" action="/interaction/${escapeHTML(uid)}/login">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" autocomplete="username" autofocus required value="${escapeHTML(state.username ?? '')}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit" name="signInSubmitButton">Sign in</button>
</form>`,
    users,
  );
}

/** The demo users, for the person trying the demo: name, password, groups. */
function userList(users: readonly DemoUser[]): string {
  if (users.length === 0) return '';
  const rows = users
    .map((user) => `<tr><td><code>${escapeHTML(user.username)}</code></td><td><code>${escapeHTML(user.password)}</code></td><td>${user.groups.length === 0 ? 'none' : escapeHTML(user.groups.slice(0, 3).join(', ') + (user.groups.length > 3 ? ', …' : ''))}</td></tr>`)
    .join('');
  return `<section aria-labelledby="demo-users"><h2 id="demo-users">Demo users</h2>
<table><thead><tr><th scope="col">Username</th><th scope="col">Password</th><th scope="col">Groups</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** Colours keep at least 4.5:1 contrast; the only style is this one. */
const STYLE = [
  '*{box-sizing:border-box}',
  'body{margin:0;background:#eef1f5;color:#1a1d23;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}',
  'header{background:#232f3e;color:#fff;padding:.75rem 1.25rem;font-weight:600}',
  'header span{font-weight:400;color:#d5dbe3;margin-left:.5rem}',
  'main{max-width:30rem;margin:2rem auto;padding:0 1rem}',
  '.card{background:#fff;border:1px solid #d5dbe3;border-radius:.75rem;padding:1.5rem 1.75rem;margin-bottom:1rem}',
  '.note{margin-top:0;background:#fff8e6;border:1px solid #e8c66a;border-radius:.5rem;padding:.6rem .8rem;font-size:.9rem}',
  'h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1rem;margin:0 0 .5rem}',
  'label{display:block;font-weight:600;margin:.8rem 0 .25rem}',
  'input{display:block;width:100%;font:inherit;padding:.5rem .6rem;border:1px solid #6b7280;border-radius:.4rem}',
  'button{display:block;width:100%;margin-top:1.25rem;font:inherit;font-weight:600;padding:.6rem;border:0;border-radius:.4rem;background:#1d4ed8;color:#fff;cursor:pointer}',
  'button:hover{background:#1e3a8a}',
  ':focus-visible{outline:3px solid #f59e0b;outline-offset:2px}',
  '.error{color:#9a3412;font-weight:600}',
  'table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e5e7eb}',
  'code{font:.875em ui-monospace,SFMono-Regular,Menlo,monospace;white-space:nowrap}',
].join('');

function page(title: string, body: string, users: readonly DemoUser[]): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHTML(title)} · Demo identity provider</title>
<style>${STYLE}</style>
</head>
<body>
<header>Demo identity provider<span>a local stand-in for Amazon Cognito's managed login</span></header>
<main>
<div class="card">
<h1>${escapeHTML(title)}</h1>
${body}
</div>
<div class="card">
<p class="note">This page is served by <code>portcullis demo</code>, not by Amazon Cognito. It issues Cognito-shaped tokens, so Portcullis treats it as a Cognito user pool.</p>
${userList(users)}
</div>
</main>
</body>
</html>
`;
}
