import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';

const workdir = mkdtempSync(join(tmpdir(), 'portcullis-validate-'));
const write = (name: string, text: string) => {
  const file = join(workdir, name);
  writeFileSync(file, text);
  return file;
};

describe('portcullis validate', () => {
  it('accepts the examples', async () => {
    const result = await runCli(['validate', '-f', 'examples/']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/every condition is True/);
    expect(result.code).toBe(0);
  });

  it('refuses a broken manifest with a message naming the field', async () => {
    const file = write(
      'both-backends.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: broken}
spec:
  rules:
    - backends: [{url: "ftp://example.com"}]
`,
    );
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Route default\/broken\s+Accepted\s+False\s+Invalid\s+spec\.rules\[0\]\.backends\[0\]\.url: Must be http\(s\):\/\/host\[:port\]/);
    expect(result.stdout).toContain(`${file}:1:`);
  });

  it('fails an accepted Route whose policy is missing', async () => {
    const file = write(
      'missing-policy.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: guarded}
spec:
  policyRef: {name: nowhere}
  rules: [{backends: [{url: "http://127.0.0.1:1"}]}]
`,
    );
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Route default\/guarded\s+Accepted\s+True/);
    expect(result.stdout).toMatch(/ResolvedRefs\s+False\s+PolicyNotFound\s+spec\.policyRef: OIDCPolicy default\/nowhere does not exist\./);
  });

  it('reports unparsable YAML with its file and line, without a stack trace', async () => {
    const file = write('garbled.yaml', 'apiVersion: v1\nkind: Secret\nmetadata: {name: x\n  oops: [\n');
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: line \\d+, column \\d+: YAML: `));
    expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
  });

  it('says so when a path does not exist', async () => {
    const result = await runCli(['validate', '-f', join(workdir, 'missing')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no such file or directory/);
  });

  it('refuses the same object defined twice', async () => {
    const route = `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: twice}
spec: {rules: [{backends: [{url: "http://127.0.0.1:1"}]}]}
`;
    const dir = mkdtempSync(join(workdir, 'twice-'));
    writeFileSync(join(dir, 'a.yaml'), route);
    writeFileSync(join(dir, 'b.yaml'), route);
    const result = await runCli(['validate', '-f', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Route default\/twice is also defined in .*a\.yaml/);
  });
});
