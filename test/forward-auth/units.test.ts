// The pure parts of forward-auth: how each convention reads a check, where the sign-in start may
// send a browser, and the --auth-listen flag.
import { parseAuthListen } from '../../src/cli/auth-listen.ts';
import { UsageError } from '../../src/cli/usage-error.ts';
import { describeCheck, type CheckRequest } from '../../src/proxy/check-conventions.ts';
import { rdOf, signInTarget } from '../../src/proxy/pipeline.ts';

/** A check as Node hands it over: lower-case names, and the headers as sent. */
function check(headers: [string, string][], url = '/', method = 'GET'): CheckRequest {
  const lower: Record<string, string> = {};
  for (const [name, value] of headers) lower[name.toLowerCase()] = value;
  return { method, url, headers: lower, rawHeaders: headers.flat(), host: lower.host };
}

describe('describeCheck', () => {
  it('nginx: X-Original-URI with X-Forwarded-Host and -Proto; never X-Forwarded-Uri', () => {
    const described = describeCheck('nginx', check([['Host', 'auth'], ['X-Original-URI', '/a?b=1'], ['X-Original-Method', 'POST'], ['X-Forwarded-Host', 'app.example.com'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Uri', '/public']]), '');
    expect(described).toEqual({ kind: 'described', method: 'POST', target: '/a?b=1', host: 'app.example.com', scheme: 'https' });
  });

  it('nginx: X-Original-URL carries the scheme and host; X-Original-URI beside it must be its path', () => {
    const url = ['X-Original-URL', 'HTTPS://App.example.com:8443/a?b=1'] as [string, string];
    expect(describeCheck('nginx', check([url, ['X-Original-Method', 'GET']]), '')).toEqual({ kind: 'described', method: 'GET', target: 'HTTPS://App.example.com:8443/a?b=1', host: 'App.example.com:8443', scheme: 'https' });
    expect(describeCheck('nginx', check([url, ['X-Original-Method', 'GET'], ['X-Original-URI', '/a?b=1']]), '')).toMatchObject({ kind: 'described' });
    expect(describeCheck('nginx', check([url, ['X-Original-Method', 'GET'], ['X-Original-URI', '/a']]), '')).toMatchObject({ kind: 'invalid' });
    expect(describeCheck('nginx', check([['X-Original-URL', 'http://app.example.com'], ['X-Original-Method', 'GET']]), '')).toMatchObject({ target: 'http://app.example.com', kind: 'described' });
    expect(describeCheck('nginx', check([['X-Original-URL', 'ftp://app.example.com/'], ['X-Original-Method', 'GET']]), '')).toMatchObject({ kind: 'invalid' });
  });

  it('nginx: without X-Original-URI or -URL the request is for the listener itself; a header given twice is refused', () => {
    expect(describeCheck('nginx', check([['Host', 'app.example.com']]), '')).toEqual({ kind: 'direct' });
    const twice = describeCheck('nginx', check([['X-Original-URI', '/public'], ['x-original-uri', '/admin'], ['X-Original-Method', 'GET']]), '');
    expect(twice).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/more than one x-original-uri/) });
  });

  it('traefik: all of X-Forwarded-Method, -Host and -Uri', () => {
    const headers: [string, string][] = [['X-Forwarded-Method', 'PUT'], ['X-Forwarded-Host', 'app.example.com'], ['X-Forwarded-Uri', '/x'], ['X-Forwarded-Proto', 'https']];
    expect(describeCheck('traefik', check(headers), '')).toEqual({ kind: 'described', method: 'PUT', target: '/x', host: 'app.example.com', scheme: 'https' });
    expect(describeCheck('traefik', check(headers.slice(1)), '')).toMatchObject({ kind: 'invalid' });
  });

  it('envoy: the path after the prefix, on a segment boundary', () => {
    const headers: [string, string][] = [['Host', 'app.example.com']];
    expect(describeCheck('envoy', check(headers, '/check/a?b=1', 'DELETE'), '/check')).toEqual({ kind: 'described', method: 'DELETE', target: '/a?b=1', host: 'app.example.com', scheme: 'http' });
    expect(describeCheck('envoy', check(headers, '/checkout/a'), '/check')).toMatchObject({ kind: 'invalid' });
    expect(describeCheck('envoy', check(headers, '/a'), '')).toMatchObject({ target: '/a' });
  });
});

describe('the sign-in start', () => {
  it('rd: the rest of the query when it starts with rd=/ (nginx $request_uri), else the decoded parameter', () => {
    expect(rdOf('rd=/reports?year=2026&tab=q1')).toBe('/reports?year=2026&tab=q1');
    expect(rdOf('rd=https%3A%2F%2Fapp.example.com%2Fx%3Fa%3D1%26b%3D2')).toBe('https://app.example.com/x?a=1&b=2');
    expect(rdOf('other=1&rd=%2Fx')).toBe('/x');
    expect(rdOf('')).toBe('');
  });

  it('goes only to a path of this host', () => {
    expect(signInTarget('/x?y=1', 'app.example.com', 'https')).toBe('/x?y=1');
    expect(signInTarget('https://app.example.com/x?y=1', 'app.example.com', 'https')).toBe('/x?y=1');
    expect(signInTarget('https://APP.example.com:443/x', 'app.example.com', 'https')).toBe('/x');
    expect(signInTarget('http://app.example.com:8080/x', 'app.example.com:8080', 'http')).toBe('/x');
    for (const rd of ['https://evil.example.com/x', 'https://app.example.com.evil.example/x', 'https://app.example.com:444/x', '//evil.example.com/', '/\\evil.example.com', 'https://user:pass@app.example.com/', 'javascript:alert(1)', 'data:text/html,x', '', 'x']) {
      expect([rd, signInTarget(rd, 'app.example.com', 'https')]).toEqual([rd, null]);
    }
  });
});

describe('--auth-listen', () => {
  it('host:port with an optional =convention; the default convention otherwise', () => {
    expect(parseAuthListen('127.0.0.1:8082', 'nginx')).toEqual({ host: '127.0.0.1', port: 8082, convention: 'nginx' });
    expect(parseAuthListen(':8083=traefik', 'nginx')).toEqual({ host: undefined, port: 8083, convention: 'traefik' });
    expect(parseAuthListen('[::1]:8084=envoy', 'traefik')).toEqual({ host: '::1', port: 8084, convention: 'envoy' });
    expect(() => parseAuthListen(':8082=istio', 'nginx')).toThrow(/--auth-listen takes host:port or host:port=convention, the convention nginx, traefik, envoy, not ":8082=istio"/);
    expect(() => parseAuthListen('8082=', 'nginx')).toThrow(UsageError);
    expect(() => parseAuthListen('host:port', 'nginx')).toThrow(/--auth-listen takes host:port/);
  });
});
