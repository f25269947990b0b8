// The provider's sign-in page: one plain HTML form (username, password, a submit button),
// easy to fill in Chromium and to post from a test with a cookie jar. oidc-provider sends the
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
    sendHTML(res, 405, page('Sign in', '<p>Method not allowed.</p>'));
    return true;
  }

  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    sendHTML(res, 400, page('Sign in', '<p>This sign-in attempt has expired or is unknown. Go back to the application and start again.</p>'));
    return true;
  }
  // The interaction cookie names one attempt; a form of another attempt must not finish it.
  if (details.uid !== uid || (details.prompt.name !== 'login' && details.prompt.name !== 'consent')) {
    sendHTML(res, 400, page('Sign in', '<p>This sign-in attempt does not match this page. Start again.</p>'));
    return true;
  }
  if (details.prompt.name === 'consent') {
    // Only `prompt=consent` gets here. Cognito has no consent screen: loadExistingGrant has
    // already granted what the client asked for, so the answer is yes.
    await provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
    return true;
  }

  if (!isSubmit) {
    sendHTML(res, 200, loginPage(uid));
    return true;
  }
  const form = await readForm(req);
  const username = form.get('username') ?? '';
  const user = users.find((u) => u.username === username && u.password === (form.get('password') ?? ''));
  if (user === undefined) {
    sendHTML(res, 401, loginPage(uid, { username, error: 'Incorrect username or password.' }));
    return true;
  }
  await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  return true;
}

export function loginPage(uid: string, state: { username?: string; error?: string } = {}): string {
  const error = state.error === undefined ? '' : `<p id="loginErrorMessage" role="alert">${escapeHTML(state.error)}</p>`;
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
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHTML(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}label,input,button{display:block;width:100%;margin:.3rem 0}button{margin-top:1rem}</style>
</head>
<body>
<h1>${escapeHTML(title)}</h1>
${body}
</body>
</html>
`;
}
