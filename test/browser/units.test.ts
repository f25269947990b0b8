// Unit tests for the pieces of the browser flow that need no browser: sealing, chunking, the
// Cookie header we forward, return targets, navigations, and the session encoding.
import { PassThrough } from 'node:stream';
import { deflateRawSync } from 'node:zlib';
import { decodeAttempt, decodeSession, encodeAttempt, encodeSession, newSessionId, type Session } from '../../src/auth/browser/codec.ts';
import { MAX_CHUNKS, MAX_COOKIE_BYTES, parseCookies, readChunked, splitValue, writeChunked } from '../../src/auth/browser/cookies.ts';
import { fromThisSite } from '../../src/auth/browser/logout.ts';
import { createRedisPool } from '../../src/auth/browser/redis.ts';
import { createRevocations } from '../../src/auth/browser/revocations.ts';
import { deriveKeys, seal, unseal } from '../../src/auth/browser/seal.ts';
import { isNavigation, originalTarget, returnTarget } from '../../src/auth/browser/targets.ts';
import { forwardedCookieHeader } from '../../src/model/cookies.ts';
import type { AuthPolicy } from '../../src/model/policy.ts';
import { createLogger } from '../../src/observability/logger.ts';

const LINE_A = 'a-session-key-line-of-at-least-32-characters';
const LINE_B = 'another-session-key-line-also-32-characters-long';
const ISSUER = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Demo12345';
const OWNER = { policy: 'default/web', issuer: ISSUER, clientID: 'client-a' };

describe('sealing', () => {
  const keys = deriveKeys([LINE_A], 'session', OWNER);
  const text = new TextEncoder().encode('{"hello":"world"}');

  it('round-trips, and the value is cookie-safe without the constant JWE header', async () => {
    const sealed = await seal(text, keys);
    expect(sealed).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(sealed.split('.')).toHaveLength(3);
    expect(Buffer.from(await unseal(sealed, keys) ?? []).toString()).toBe('{"hello":"world"}');
  });

  it('every line unseals, the first seals (rotation)', async () => {
    const old = deriveKeys([LINE_B], 'session', OWNER);
    const rotated = deriveKeys([LINE_A, LINE_B], 'session', OWNER);
    expect(await unseal(await seal(text, old), rotated)).not.toBeNull();
    expect(await unseal(await seal(text, rotated), keys)).not.toBeNull();
    expect(await unseal(await seal(text, rotated), old)).toBeNull();
  });

  it('a seal is bound to its purpose, policy, issuer and client: same Secret, other policy, no plaintext', async () => {
    const sealed = await seal(text, keys);
    expect(await unseal(sealed, deriveKeys([LINE_A], 'session', { ...OWNER, clientID: 'client-b' }))).toBeNull();
    expect(await unseal(sealed, deriveKeys([LINE_A], 'session', { ...OWNER, issuer: `${ISSUER}x` }))).toBeNull();
    expect(await unseal(sealed, deriveKeys([LINE_A], 'login', OWNER))).toBeNull();
    // Same issuer, client and Secret: another policy's name or namespace is enough.
    expect(await unseal(sealed, deriveKeys([LINE_A], 'session', { ...OWNER, policy: 'default/twin' }))).toBeNull();
    expect(await unseal(sealed, deriveKeys([LINE_A], 'session', { ...OWNER, policy: 'other/web' }))).toBeNull();
    expect(await unseal(sealed, deriveKeys([LINE_A], 'session', { ...OWNER }))).not.toBeNull();
  });

  it('tampered, truncated, extended or garbage values unseal to null', async () => {
    const sealed = await seal(text, keys);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const bad of [flip(sealed, 3), flip(sealed, 20), flip(sealed, sealed.length - 2), sealed.slice(0, -1), sealed.slice(0, sealed.length - 10), `${sealed}A`, '', 'x', 'a.b.c', `eyJhbGciOiJub25lIn0..${sealed}`]) {
      expect(await unseal(bad, keys)).toBeNull();
    }
  });
});

describe('cookie chunks', () => {
  const attributes = { path: '/', domain: null, secure: false, sameSite: 'Lax' as const, maxAge: 3600 };
  const jarFrom = (lines: string[]) => parseCookies(lines.map((line) => line.split(';')[0]).join('; '));

  it('a small value is one cookie under the plain name', () => {
    const lines = writeChunked(new Map(), 'sess', 'abc', attributes)!;
    expect(lines).toEqual(['sess=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax']);
    expect(readChunked(jarFrom(lines), 'sess')).toBe('abc');
  });

  it('a large value is split into numbered chunks that each fit a browser, and reassembles', () => {
    const value = 'x'.repeat(9_000) + 'y'.repeat(1_000);
    const lines = writeChunked(new Map(), 'sess', value, attributes)!;
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line.split(';')[0]!.length).toBeLessThanOrEqual(MAX_COOKIE_BYTES);
    expect(lines.map((line) => line.split('=')[0])).toEqual(['sess_0', 'sess_1', 'sess_2']);
    expect(readChunked(jarFrom(lines), 'sess')).toBe(value);
  });

  it('stale pieces of the previous session are expired on every write', () => {
    const big = writeChunked(new Map(), 'sess', 'z'.repeat(12_000), attributes)!;
    const jar = jarFrom(big);
    const small = writeChunked(jar, 'sess', 'small', attributes)!;
    expect(small[0]).toMatch(/^sess=small;/);
    const expired = small.slice(1).map((line) => line.split('=')[0]).sort();
    expect(expired).toEqual(['sess_0', 'sess_1', 'sess_2', 'sess_3']);
    for (const line of small.slice(1)) expect(line).toMatch(/Max-Age=0/);
    const again = writeChunked(jarFrom([small[0]!]), 'sess', 'w'.repeat(5_000), attributes)!;
    expect(again.map((line) => line.split('=')[0])).toEqual(['sess_0', 'sess_1', 'sess']);
  });

  it('a missing chunk, or a count that lies, gives no value to unseal', () => {
    const lines = writeChunked(new Map(), 'sess', 'q'.repeat(9_000), attributes)!;
    expect(readChunked(jarFrom([lines[0]!, lines[2]!]), 'sess')).toBeNull();
    expect(readChunked(parseCookies('sess_0=99~abc'), 'sess')).toBeNull();
    expect(readChunked(parseCookies('sess_0=abc'), 'sess')).toBeNull();
  });

  it('refuses values needing more than MAX_CHUNKS cookies', () => {
    expect(splitValue('sess', 'v'.repeat(MAX_COOKIE_BYTES * MAX_CHUNKS))).toBeNull();
  });

  it('the forwarded Cookie header keeps the application\'s cookies only', () => {
    const header = 'app=1; sess=abc; sess_0=2~x; sess_1=y; sess_login_AbCdEf0123456789=z; sess_restarts=1; sessx=keep; sess_other=keep; theme=dark';
    expect(forwardedCookieHeader(header, ['sess'])).toBe('app=1; sessx=keep; sess_other=keep; theme=dark');
    expect(forwardedCookieHeader('sess=abc; sess_login_x=1', ['sess'])).toBeNull();
    expect(forwardedCookieHeader(undefined, ['sess'])).toBeNull();
    expect(forwardedCookieHeader(['a=1', 'sess=2'], ['sess'])).toBe('a=1');
  });
});

describe('return targets', () => {
  it.each(['/', '/anything/test', '/a?b=c&d=%2F', '/p/q#frag', '/caf%C3%A9'])('%s is a same-origin path', (target) => {
    expect(returnTarget(target)).toBe(target);
  });

  it.each(['', 'https://evil.example/', '//evil.example/', '/\\evil.example', '\\\\evil', 'javascript:alert(1)', 'evil.example', '/\t/evil.example', '/\n', '/%0d%0aSet-Cookie:x', '/a\\b'])(
    '%j is never a redirect target',
    (target) => {
      const accepted = returnTarget(target);
      if (accepted !== null) {
        // Percent-encoded CR/LF stays encoded in a Location header: harmless, and same origin.
        expect(new URL(accepted, 'http://h.invalid').origin).toBe('http://h.invalid');
      }
      if (target !== '/%0d%0aSet-Cookie:x') expect(accepted).toBeNull();
    },
  );

  it('the original request becomes the target, or "/" when it cannot be one', () => {
    expect(originalTarget('/anything/test', 'a=1')).toBe('/anything/test?a=1');
    expect(originalTarget('//evil', '')).toBe('/');
  });
});

describe('navigations', () => {
  const request = (method: string, headers: Record<string, string>) => ({ method, headers });
  it('GET or HEAD of a page is a navigation; fetch() and other methods are not', () => {
    expect(isNavigation(request('GET', { accept: 'text/html,application/xhtml+xml' }))).toBe(true);
    expect(isNavigation(request('HEAD', { 'sec-fetch-mode': 'navigate' }))).toBe(true);
    expect(isNavigation(request('GET', { accept: 'text/html', 'sec-fetch-mode': 'cors' }))).toBe(false);
    expect(isNavigation(request('GET', { accept: '*/*' }))).toBe(false);
    expect(isNavigation(request('POST', { accept: 'text/html', 'sec-fetch-mode': 'navigate' }))).toBe(false);
  });
});

describe('session encoding', () => {
  const jwt = (payload: object) => `${Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${'s'.repeat(342)}`;
  const session: Session = {
    id: 'AAECAwQFBgcICQoLDA0ODw',
    createdAt: 1_800_000_000,
    touchedAt: 1_800_000_100,
    idToken: jwt({ sub: 'u', 'cognito:groups': ['a', 'b'], email: 'e@example.com' }),
    accessToken: jwt({ sub: 'u', scope: 'openid email', username: 'alice' }),
    accessExpiresAt: 1_800_003_600,
    refreshToken: 'opaque-refresh-token',
    scope: 'openid email',
  };

  it('round-trips exactly, and is smaller than the tokens it holds', () => {
    const encoded = encodeSession(session);
    expect(decodeSession(encoded)).toEqual(session);
    expect(encoded.length).toBeLessThan(session.idToken.length + session.accessToken!.length);
  });

  it('keeps a token that is not a canonical JWT as it is', () => {
    const odd = { ...session, idToken: 'not.a-jwt', accessToken: null, refreshToken: null, scope: null };
    expect(decodeSession(encodeSession(odd))).toEqual(odd);
  });

  it('gives each session a random id of 128 bits, kept as it is', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newSessionId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(decodeSession(encodeSession({ ...session, id: [...ids][0]! }))?.id).toBe([...ids][0]);
  });

  it('refuses a session of the first version (no id), and one whose id is not an id', () => {
    const v1 = [1, session.createdAt, session.touchedAt, session.idToken, session.accessToken, session.accessExpiresAt, session.refreshToken, session.scope];
    expect(decodeSession(deflateRawSync(JSON.stringify(v1)))).toBeNull();
    for (const id of ['', 'short', 'has space in it and is long enough', 42]) {
      expect(decodeSession(encodeSession({ ...session, id: id as string }))).toBeNull();
    }
  });

  it('refuses other shapes', () => {
    expect(decodeSession(new Uint8Array([1, 2, 3]))).toBeNull();
    expect(decodeAttempt(new TextEncoder().encode('[1,2]'))).toBeNull();
    const attempt = { state: 's', nonce: 'n', codeVerifier: 'v', returnTo: '/', redirectURI: 'http://h/cb', createdAt: 1 };
    expect(decodeAttempt(encodeAttempt(attempt))).toEqual(attempt);
  });
});

describe('revocations without a Redis (one process)', () => {
  const policy = (key: string) => ({ key, browser: { session: { store: { kind: 'Cookie', revocations: null } } } }) as unknown as AuthPolicy;
  const web = policy('default/web');
  function setup(maxLocal?: number) {
    let now = 1_800_000_000;
    const lines: Record<string, unknown>[] = [];
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)));
    const logger = createLogger({ destination: sink });
    const redis = createRedisPool(logger);
    const revocations = createRevocations({ redis, logger, seconds: () => now, ...(maxLocal === undefined ? {} : { maxLocal }) });
    return { revocations, lines, tick: (seconds: number) => (now += seconds), now: () => now };
  }

  it('refuses a revoked id of its policy until the expiry it was given, and nothing else', async () => {
    const { revocations, tick, now } = setup();
    const [id, other] = [newSessionId(), newSessionId()];
    await revocations.revoke(web, id, now() + 60);
    expect(await revocations.isRevoked(web, id)).toBe(true);
    expect(await revocations.isRevoked(web, other)).toBe(false);
    expect(await revocations.isRevoked(policy('default/twin'), id)).toBe(false);
    tick(59);
    expect(await revocations.isRevoked(web, id)).toBe(true);
    tick(1);
    expect(await revocations.isRevoked(web, id)).toBe(false);
    // A session past its absolute timeout is refused anyway: nothing to remember.
    await revocations.revoke(web, other, now());
    expect(await revocations.isRevoked(web, other)).toBe(false);
  });

  it('is bounded: expired ids go first, then the oldest, with a warning', async () => {
    const { revocations, lines, tick, now } = setup(10);
    const ids = Array.from({ length: 25 }, () => newSessionId());
    for (const id of ids.slice(0, 5)) await revocations.revoke(web, id, now() + 10);
    for (const id of ids.slice(5, 10)) await revocations.revoke(web, id, now() + 1_000);
    tick(20);
    // Full: the five expired ids make room, and nothing live is forgotten.
    for (const id of ids.slice(10, 15)) await revocations.revoke(web, id, now() + 1_000);
    for (const id of ids.slice(5, 15)) expect(await revocations.isRevoked(web, id)).toBe(true);
    expect(lines.filter((line) => line.level === 'warn')).toEqual([]);
    // Full of live ids: the oldest is forgotten, and the log says why.
    await revocations.revoke(web, ids[15]!, now() + 1_000);
    expect(await revocations.isRevoked(web, ids[5]!)).toBe(false);
    for (const id of ids.slice(6, 16)) expect(await revocations.isRevoked(web, id)).toBe(true);
    expect(lines.filter((line) => line.level === 'warn').map((line) => line.msg)).toEqual([expect.stringContaining('the oldest are forgotten early')]);
  });
});

describe('logout from this site only', () => {
  const context = { scheme: 'https', host: 'app.example.com' } as const;
  const request = (method: string, headers: Record<string, string>) => ({ method, headers });
  it.each([
    ['GET', { 'sec-fetch-site': 'same-origin' }, true],
    ['GET', { 'sec-fetch-site': 'none' }, true],
    ['GET', { 'sec-fetch-site': 'same-site' }, false],
    ['GET', { 'sec-fetch-site': 'cross-site' }, false],
    ['GET', {}, false],
    ['GET', { origin: 'https://app.example.com' }, false],
    ['GET', { 'sec-fetch-site': 'same-origin', 'sec-purpose': 'prefetch' }, false],
    ['GET', { 'sec-fetch-site': 'none', purpose: 'prefetch' }, false],
    ['HEAD', { 'sec-fetch-site': 'same-origin' }, false],
    ['POST', { 'sec-fetch-site': 'same-origin' }, true],
    ['POST', { 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' }, true],
    ['POST', { 'sec-fetch-site': 'same-site', origin: 'https://app.example.com' }, false],
    ['POST', { 'sec-fetch-site': 'cross-site' }, false],
    ['POST', { 'sec-fetch-site': 'none' }, false],
    ['POST', { origin: 'https://app.example.com' }, true],
    ['POST', { origin: 'https://APP.example.com:443' }, true],
    ['POST', { origin: 'http://app.example.com' }, false],
    ['POST', { origin: 'https://evil.example' }, false],
    ['POST', { origin: 'null' }, false],
    ['POST', {}, true],
    ['DELETE', { 'sec-fetch-site': 'same-origin' }, false],
  ] as const)('%s with %j: %s', (method, headers, expected) => {
    expect(fromThisSite(request(method, headers), context)).toBe(expected);
  });
});
