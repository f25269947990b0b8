import { parseManifest } from '../../src/api/manifest.ts';
import { closest, editDistance } from '../../src/api/suggest.ts';

describe('parseManifest', () => {
  it('names the offending field of an invalid Route', () => {
    const result = parseManifest({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'Route',
      metadata: { name: 'r' },
      spec: { rules: [{ backends: [{ url: 'ftp://x' }] }] },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.field)).toContain('spec.rules[0].backends[0].url');
  });
});

describe('parseManifest messages', () => {
  const route = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    parseManifest({ apiVersion: 'portcullis.dev/v1alpha1', kind: 'Route', metadata: { name: 'r' }, spec, ...extra });
  const issues = (result: ReturnType<typeof parseManifest>) => (result.ok ? [] : result.issues.map(({ field, message, path }) => ({ field, message, path })));

  it('name the field a typo most likely meant, with the path of the typo itself', () => {
    expect(issues(route({ polcyRef: { name: 'p' }, rules: [{ backend: [{ url: 'http://a' }] }] }))).toEqual([
      { field: 'spec.rules[0].backend', message: 'Unknown field (did you mean "backends"?).', path: ['spec', 'rules', 0, 'backend'] },
      { field: 'spec.polcyRef', message: 'Unknown field (did you mean "policyRef"?).', path: ['spec', 'polcyRef'] },
    ]);
  });

  it('list the known fields when none is close', () => {
    expect(issues(route({ rules: [{ backends: [{ url: 'http://a' }] }], somethingElse: 1 }))).toEqual([
      { field: 'spec.somethingElse', message: 'Unknown field (the fields here are className, hostnames, mode, policyRef, rules, tls).', path: ['spec', 'somethingElse'] },
    ]);
  });

  it('name the option a near miss meant, and say what is missing', () => {
    const result = route({ rules: [{ matches: [{ method: 'get' }], backends: [{ service: { name: 'svc' } }] }] });
    expect(issues(result).map((i) => `${i.field}: ${i.message}`)).toEqual([
      'spec.rules[0].matches[0].method: Invalid option: expected one of "GET"|"HEAD"|"POST"|"PUT"|"DELETE"|"CONNECT"|"OPTIONS"|"TRACE"|"PATCH" (did you mean "GET"?).',
      'spec.rules[0].backends[0].service.port: Required (a number).',
    ]);
  });

  it('say to quote a number where a string belongs', () => {
    const result = parseManifest({ apiVersion: 'portcullis.dev/v1alpha1', kind: 'OIDCPolicy', metadata: { name: 'p' }, spec: { issuer: 'https://idp.example', clientID: 123 } });
    expect(issues(result)).toEqual([{ field: 'spec.clientID', message: 'Expected a string, got the number 123: quote the value in YAML.', path: ['spec', 'clientID'] }]);
  });

  it('name the kind a near miss meant', () => {
    const result = parseManifest({ apiVersion: 'portcullis.dev/v1alpha1', kind: 'OidcPolicy', metadata: { name: 'p' } });
    expect(issues(result)).toEqual([
      { field: 'kind', message: 'Unsupported kind "OidcPolicy" (did you mean "OIDCPolicy"?); expected one of Route, OIDCPolicy, Secret, ConfigMap, Service, EndpointSlice, ClusterOIDCPolicy, Namespace.', path: ['kind'] },
    ]);
  });
});

describe('closest', () => {
  it('takes one edit in three characters, case aside, and transpositions as one edit', () => {
    expect(editDistance('polcyRef', 'policyRef')).toBe(1);
    expect(editDistance('backnedS', 'backends')).toBe(2);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(closest('backend', ['backends', 'matches'])).toBe('backends');
    expect(closest('HOSTNAMES', ['hostnames', 'rules'])).toBe('hostnames');
    expect(closest('timeout', ['timeouts', 'rewrite'])).toBe('timeouts');
    expect(closest('xyz', ['backends', 'matches'])).toBeNull();
    expect(closest('url', ['uri'])).toBe('uri');
    expect(closest('abc', [])).toBeNull();
  });
});
