import { parseManifest } from '../../src/api/manifest.ts';

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
