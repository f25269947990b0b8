import { normalizeHost, normalizePath, normalizeTarget, singleHostHeader, type TargetErrorCode } from '../../src/match/normalize.ts';

function pathOf(rawUrl: string, host = 'example.com'): string {
  const result = normalizeTarget(rawUrl, host);
  if (!result.ok) throw new Error(`${rawUrl} was refused: ${result.code} ${result.message}`);
  return result.path;
}

function codeOf(rawUrl: string, host: string | undefined = 'example.com'): TargetErrorCode | 'accepted' {
  const result = normalizeTarget(rawUrl, host);
  return result.ok ? 'accepted' : result.code;
}

describe('normalizeTarget: paths that are accepted', () => {
  it.each([
    ['/', '/'],
    ['/anything', '/anything'],
    ['/anything/', '/anything/'],
    ['/a/b/../c', '/a/c'],
    ['/a/./b', '/a/b'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/..', '/'],
    ['/.', '/'],
    ['/a/%2e/b', '/a/b'],
    ['/a/b/%2E%2e/c', '/a/c'],
    ['/a/.%2e/c', '/c'],
    ['/.well-known/openid-configuration', '/.well-known/openid-configuration'],
    ['/a/...', '/a/...'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a/b..', '/a/b..'],
    ['/p%41th', '/pAth'],
    ['/%7Euser', '/~user'],
    ['/%2D%2e%5F%7e%30%61%5a', '/-._~0aZ'],
    ['/caf%C3%A9', '/caf%C3%A9'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%20b', '/a%20b'],
    ['/a%3fb', '/a%3Fb'],
    ['/a%25b', '/a%25b'],
    ['/%2525', '/%2525'],
    ['/a%2Bb+c', '/a%2Bb+c'],
    ["/!$&'()*+,=:@", "/!$&'()*+,=:@"],
    ['/a{b}|c', '/a%7Bb%7D%7Cc'],
    ['/a"<>^`[]', '/a%22%3C%3E%5E%60%5B%5D'],
    ['/café', '/caf%C3%A9'],
  ])('%s → %s', (raw, expected) => {
    expect(pathOf(raw)).toBe(expected);
  });

  // Runs of slashes are merged: `//admin` must not miss a `/admin` rule and still reach an
  // upstream that merges them. The upstream receives the merged path too.
  it.each([
    ['//double//slashes', '/double/slashes'],
    ['/a///b/', '/a/b/'],
    ['//', '/'],
    ['/a//../b', '/b'],
    ['/%2e%2e%2f', 'TARGET_ENCODED_SLASH'],
  ])('merges slashes: %s → %s', (raw, expected) => {
    const result = normalizeTarget(raw, 'example.com');
    expect(result.ok ? result.path : result.code).toBe(expected);
  });

  it('keeps the query as sent and splits it at the first "?"', () => {
    expect(normalizeTarget('/a/../b?x=1&y=%2F..%2f&z=a?b', 'example.com')).toEqual({
      ok: true, path: '/b', query: 'x=1&y=%2F..%2f&z=a?b', host: 'example.com',
    });
    expect(normalizeTarget('/a?', 'example.com')).toMatchObject({ path: '/a', query: '' });
    expect(normalizeTarget('/a', 'example.com')).toMatchObject({ path: '/a', query: '' });
    expect(normalizeTarget('/a?q=é', 'example.com')).toMatchObject({ query: 'q=%C3%A9' });
    expect(normalizeTarget('/a?q="{x}"', 'example.com')).toMatchObject({ query: 'q="{x}"' });
  });

  it('is idempotent: a normalised path normalises to itself', () => {
    for (const raw of ['/a/b/../c', '//x//y/./z/..', '/p%41th/caf%c3%a9', '/a{b}', '/a%25b/%7e']) {
      const once = pathOf(raw);
      expect(pathOf(once)).toBe(once);
    }
  });
});

describe('normalizeTarget: targets that are refused with 400', () => {
  it.each<[string, TargetErrorCode | 'accepted']>([
    ['/%2e%2e/', 'TARGET_TRAVERSAL'],
    ['/..', 'TARGET_TRAVERSAL'],
    ['/../etc/passwd', 'TARGET_TRAVERSAL'],
    ['/a/../../b', 'TARGET_TRAVERSAL'],
    ['/a/%2E%2E/%2e%2e/b', 'TARGET_TRAVERSAL'],
    ['/public/..;/admin', 'TARGET_PATH_PARAMETERS'],
    ['/public;jsessionid=1/admin', 'TARGET_PATH_PARAMETERS'],
    ['/public/..%3B/admin', 'TARGET_PATH_PARAMETERS'],
    ['/public/..%3b/admin', 'TARGET_PATH_PARAMETERS'],
    ['/public/%252e%252e/admin', 'TARGET_DOUBLE_ENCODING'],
    ['/public/%252E%252E/admin', 'TARGET_DOUBLE_ENCODING'],
    ['/public/%25%32%65%25%32%65/admin', 'TARGET_DOUBLE_ENCODING'],
    ['/public%252fadmin', 'TARGET_DOUBLE_ENCODING'],
    ['/public%255cadmin', 'TARGET_DOUBLE_ENCODING'],
    ['/public%25252e%25252e/admin', 'TARGET_DOUBLE_ENCODING'],
    ['/a%2500', 'TARGET_DOUBLE_ENCODING'],
    ['/a%253B', 'TARGET_DOUBLE_ENCODING'],
    ['/public/%2e%2e/admin', 'accepted'],
    ['/a%2Fb', 'TARGET_ENCODED_SLASH'],
    ['/a%2fb', 'TARGET_ENCODED_SLASH'],
    ['/a\\b', 'TARGET_BACKSLASH'],
    ['/a%5Cb', 'TARGET_BACKSLASH'],
    ['/a%5cb', 'TARGET_BACKSLASH'],
    ['/a\u0000b', 'TARGET_NUL'],
    ['/a%00b', 'TARGET_NUL'],
    ['/a%', 'TARGET_BAD_PERCENT_ENCODING'],
    ['/a%2', 'TARGET_BAD_PERCENT_ENCODING'],
    ['/a%zz', 'TARGET_BAD_PERCENT_ENCODING'],
    ['/a%G0', 'TARGET_BAD_PERCENT_ENCODING'],
    ['/a%%41', 'TARGET_BAD_PERCENT_ENCODING'],
    ['/a b', 'TARGET_INVALID'],
    ['/a\tb', 'TARGET_INVALID'],
    ['/a\u007fb', 'TARGET_INVALID'],
    ['/a#frag', 'TARGET_INVALID'],
    ['/a?b#frag', 'TARGET_INVALID'],
    ['/a?b c', 'TARGET_INVALID'],
    ['', 'TARGET_INVALID'],
    ['a/b', 'TARGET_INVALID'],
    ['example.com:443', 'TARGET_INVALID'],
    ['ftp://example.com/a', 'TARGET_INVALID'],
    ['*', 'TARGET_NOT_ROUTABLE'],
  ])('%s → %s', (raw, code) => {
    expect(codeOf(raw)).toBe(code);
  });

  it('refuses before it decides about dot segments: "/public/%2e%2e/admin" is a plain "/admin"', () => {
    expect(pathOf('/public/%2e%2e/admin')).toBe('/admin');
  });

  it('answers with a status and a message that a person can read', () => {
    expect(normalizeTarget('/a%2Fb', 'example.com')).toEqual({
      ok: false, code: 'TARGET_ENCODED_SLASH', status: 400, message: 'The path contains an encoded slash (%2F).',
    });
  });
});

describe('normalizeTarget: hosts and absolute-form targets', () => {
  it('normalises the Host header', () => {
    expect(normalizeTarget('/a', 'EXAMPLE.com.:8080')).toEqual({ ok: true, path: '/a', query: '', host: 'example.com' });
  });

  it('refuses a missing or invalid Host for origin-form targets', () => {
    // (codeOf's default would replace an explicit undefined)
    expect(normalizeTarget('/a', undefined)).toMatchObject({ ok: false, code: 'HOST_MISSING' });
    expect(codeOf('/a', '')).toBe('HOST_INVALID');
    expect(codeOf('/a', 'exa mple.com')).toBe('HOST_INVALID');
  });

  it.each<[string, string | undefined, string | TargetErrorCode]>([
    ['http://example.com/a/../b?x', 'example.com', '/b?x'],
    ['HTTP://EXAMPLE.COM/a', 'example.com', '/a'],
    ['http://example.com:80/a', 'example.com', '/a'],
    ['http://example.com/a', 'example.com:80', '/a'],
    ['https://example.com:443/a', 'example.com', '/a'],
    ['http://example.com./a', 'Example.COM', '/a'],
    ['http://example.com:8080/a', 'example.com:8080', '/a'],
    ['http://example.com', 'example.com', '/'],
    ['http://example.com?x=1', 'example.com', '/?x=1'],
    ['http://example.com/a', undefined, '/a'],
    ['http://[::1]:8080/a', '[0:0::1]:8080', '/a'],
    ['http://other.com/a', 'example.com', 'HOST_MISMATCH'],
    ['http://example.com:8080/a', 'example.com', 'HOST_MISMATCH'],
    ['http://example.com/a', 'example.com:8080', 'HOST_MISMATCH'],
    ['https://example.com/a', 'example.com:80', 'HOST_MISMATCH'],
    ['http://user@example.com/a', 'example.com', 'TARGET_INVALID'],
    ['http:///a', 'example.com', 'TARGET_INVALID'],
    ['http://exa_mple.com:99999/a', 'example.com', 'TARGET_INVALID'],
    ['http://example.com/a%2fb', 'example.com', 'TARGET_ENCODED_SLASH'],
  ])('%s with Host %s → %s', (raw, host, expected) => {
    const result = normalizeTarget(raw, host);
    expect(result.ok ? result.path + (result.query ? `?${result.query}` : '') : result.code).toBe(expected);
    if (result.ok) expect(result.host).toBe(raw.includes('[') ? '[::1]' : 'example.com');
  });
});

describe('normalizeHost', () => {
  it.each([
    ['example.com', 'example.com', null],
    ['EXAMPLE.com.:8080', 'example.com', 8080],
    ['Example.COM.', 'example.com', null],
    ['example.com:', 'example.com', null],
    ['127.0.0.1:443', '127.0.0.1', 443],
    ['my_service.ns.svc', 'my_service.ns.svc', null],
    ['[::1]', '[::1]', null],
    ['[::1]:8443', '[::1]', 8443],
    ['[2001:DB8:0:0::1]', '[2001:db8::1]', null],
    ['[::ffff:192.0.2.1]', '[::ffff:c000:201]', null],
  ])('%s → %s (port %s)', (raw, host, port) => {
    expect(normalizeHost(raw)).toEqual({ ok: true, host, port });
  });

  it.each([
    '', '.', ':80', 'example.com..', '.example.com', 'exa mple.com', 'exa/mple.com', 'example.com:http',
    'example.com:65536', 'example.com:123456', '::1', '[::1', '[::1]x', '[example.com]', '[fe80::1%25eth0]',
    'a'.repeat(64) + '.com', 'é.com', 'example.com\r\n', 'user@example.com', 'exa%41mple.com',
  ])('refuses %j', (raw) => {
    expect(normalizeHost(raw)).toMatchObject({ ok: false, code: 'HOST_INVALID', status: 400 });
  });
});

describe('normalizePath', () => {
  it('is what compile can use for path values written in manifests', () => {
    expect(normalizePath('/api/%7Ev1/')).toEqual({ ok: true, path: '/api/~v1/' });
    expect(normalizePath('api')).toMatchObject({ ok: false, code: 'TARGET_INVALID' });
  });
});

describe('singleHostHeader', () => {
  it.each<[string[], string | undefined]>([
    [['Host', 'example.com', 'Accept', '*/*'], 'example.com'],
    [['host', 'example.com:8080'], 'example.com:8080'],
    [['Accept', '*/*'], undefined],
    [['X-Host', 'a', 'Hosts', 'b', 'Host', 'c'], 'c'],
  ])('%j → %s', (raw, host) => {
    expect(singleHostHeader(raw)).toBe(host);
  });

  it.each([
    [['Host', 'a.example', 'Host', 'b.example']],
    [['Host', 'a.example', 'HOST', 'a.example']],
    [['host', 'a.example', 'Accept', '*/*', 'Host', '']],
  ])('refuses two Host headers, even equal ones: %j', (raw) => {
    expect(singleHostHeader(raw)).toMatchObject({ ok: false, code: 'HOST_DUPLICATE', status: 400 });
  });
});
