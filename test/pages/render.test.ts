// The pages as written on the wire (src/proxy/respond.ts, src/proxy/pages.ts), through a real
// socket: one answer, three readers (a browser, `Accept: text/plain`, an API), every value
// escaped, and a policy whose hash is the page's own style.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorAnswer, type Answer, type IdentityAnswer } from '../../src/model/answer.ts';
import { writeAnswer } from '../../src/proxy/respond.ts';

let server: Server;
let origin: string;
let current: Answer;

beforeAll(async () => {
  server = createServer((req, res) => writeAnswer(req, res, current, 'req-123'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function get(answer: Answer, accept?: string): Promise<{ status: number; headers: Headers; body: string }> {
  current = answer;
  const response = await fetch(origin, { headers: accept === undefined ? {} : { accept } });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

const HOSTILE = `<script>alert(1)</script>"'&`;
const refused = errorAnswer('GROUP_MISSING', `The rule ${HOSTILE} refused.`, {
  page: { user: `bob ${HOSTILE}`, signOut: '/oauth2/logout', switchAccount: `/.well-known/portcullis/signin?rd=${encodeURIComponent('/a"b')}&prompt=login`, formOrigins: ['https://auth.example.com'] },
});

describe('an error answer', () => {
  it('is JSON for APIs, exactly as before (nothing of the page context in it)', async () => {
    for (const accept of [undefined, 'application/json', '*/*', 'application/json, text/plain, */*', 'text/plain, application/problem+json']) {
      const { status, headers, body } = await get(refused, accept);
      expect(status).toBe(403);
      expect(headers.get('content-type')).toBe('application/json');
      expect(JSON.parse(body)).toEqual({ error: { code: 'GROUP_MISSING', status: 403, message: `The rule ${HOSTILE} refused.`, requestId: 'req-123' } });
    }
  });

  it('is text for Accept: text/plain', async () => {
    const { headers, body } = await get(refused, 'text/plain');
    expect(headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(body).toContain('403 · Forbidden: You do not have access to this page.');
    expect(body).toContain(`Signed in as bob ${HOSTILE}.`);
    expect(body).toContain('Request ID: req-123');
  });

  it('is a page for browsers, every value escaped, under a policy that allows its own style only', async () => {
    const { headers, body } = await get(refused, 'text/html,application/xhtml+xml');
    expect(headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(body).not.toContain('<script>');
    expect(body).toContain('bob &#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;');
    expect(body).toContain('href="/.well-known/portcullis/signin?rd=%2Fa%22b&#38;prompt=login"');
    expect(body).toContain('<form method="post" action="/oauth2/logout">');
    const style = /<style>([^<]*)<\/style>/.exec(body)![1]!;
    const hash = createHash('sha256').update(style).digest('base64');
    expect(headers.get('content-security-policy')).toBe(`default-src 'none'; style-src 'sha256-${hash}'; form-action 'self' https://auth.example.com; frame-ancestors 'none'; base-uri 'none'`);
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(body).toMatch(/<html lang="en">/);
    expect(body).toMatch(/<main>[\s\S]*<h1>You do not have access to this page<\/h1>/);
  });

  it('lets no origin that is not one into form-action', async () => {
    const sneaky = errorAnswer('GROUP_MISSING', 'No.', { page: { formOrigins: ["https://a.example; script-src 'unsafe-inline'", 'https://ok.example'] } });
    const { headers } = await get(sneaky, 'text/html');
    expect(headers.get('content-security-policy')).toContain("form-action 'self' https://ok.example;");
    expect(headers.get('content-security-policy')).not.toContain('unsafe-inline');
  });
});

describe('who am I', () => {
  const me: IdentityAnswer = {
    kind: 'identity',
    status: 200,
    identity: { name: 'Alice <A>', subject: 'sub-1', email: 'alice@example.com', emailVerified: false, groups: ['admins', '<g>'], policy: 'default/web', signedInAt: '2026-01-02T03:04:05Z', refreshedAt: null, expiresAt: '2026-01-02T11:04:05Z' },
    signOut: '/oauth2/logout',
    formOrigins: [],
  };

  it('is the summary as JSON for APIs, and nothing else', async () => {
    const { headers, body } = await get(me, 'application/json');
    expect(headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(body)).toEqual(me.identity);
  });

  it('is a page with the user, the email marked not verified, the groups, and a sign-out button', async () => {
    const { body } = await get(me, 'text/html');
    expect(body).toContain('<h1>Signed in as Alice &#60;A&#62;</h1>');
    expect(body).toContain('alice@example.com<span class="badge no">not verified</span>');
    expect(body).toContain('<li>&#60;g&#62;</li>');
    expect(body).toContain('<time datetime="2026-01-02T11:04:05Z">2026-01-02 11:04 UTC</time>');
    expect(body).toContain('<form method="post" action="/oauth2/logout"><button class="button" type="submit">Sign out</button></form>');
  });

  it('is text for Accept: text/plain', async () => {
    const { body } = await get(me, 'text/plain');
    expect(body).toContain('Email: alice@example.com (not verified)');
    expect(body).toContain('Groups: admins, <g>');
  });
});
