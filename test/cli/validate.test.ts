import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoMint } from '../../src/demo/cognito-mint.ts';
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
    // The line and column of the offending key, as editors read them.
    expect(result.stdout).toContain(`${file}:6:19: Route default/broken: spec.rules[0].backends[0].url: Must be http(s)://host[:port]`);
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
    expect(result.stdout).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: YAML: [A-Z].*\\.\n`));
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

  it('reports a typo at its own line and column, with the field that was meant', async () => {
    const file = write(
      'typos.yaml',
      `# A Secret first, so that the Route is the second document.
apiVersion: v1
kind: Secret
metadata: {name: unrelated}
stringData: {k: v}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: typos}
spec:
  polcyRef: {name: p}
  rules:
    - matches: [{path: {value: /api}}]
      backend:
        - url: http://127.0.0.1:1
`,
    );
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${file}:11:3: Route default/typos: spec.polcyRef: Unknown field (did you mean "policyRef"?).`);
    expect(result.stdout).toContain(`${file}:14:7: Route default/typos: spec.rules[0].backend: Unknown field (did you mean "backends"?).`);
    // The status says it too, for kubectl users and the standalone log.
    expect(result.stdout).toMatch(/Route default\/typos\s+Accepted\s+False\s+Invalid\s+spec\.rules\[0\]\.backend: Unknown field \(did you mean "backends"\?\)\./);
  });

  it('lists the known fields when no field is close to the unknown one', async () => {
    const file = write(
      'unknown.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: p}
spec:
  issuer: https://login.example.com
  clientID: c
  bearer: {enabled: true, somethingElse: 1}
`,
    );
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${file}:7:27: OIDCPolicy default/p: spec.bearer.somethingElse: Unknown field (the fields here are allowedClientIDs, audiences, enabled, tokenUse).`);
  });

  it('refuses a Cognito issuer with a trailing slash, naming spec.issuer', async () => {
    const file = write(
      'slash.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: cognito}
spec: {issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC/", clientID: c}
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: generic}
spec: {issuer: "https://tenant.eu.auth0.com/", clientID: c}
`,
    );
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /OIDCPolicy default\/cognito\s+Accepted\s+False\s+Invalid\s+spec\.issuer: Cognito's tokens name their issuer without a trailing slash \("https:\/\/cognito-idp\.us-east-1\.amazonaws\.com\/us-east-1_AbC"\), so no token would ever match this one: drop the trailing slash\./,
    );
    // A generic provider's issuer may end in "/".
    expect(result.stdout).toMatch(/OIDCPolicy default\/generic\s+Accepted\s+True/);
  });

  it("shows the user's own pattern and RE2's reason for a bad regular expression", async () => {
    const file = write(
      'regex.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: regex}
spec:
  rules:
    - matches: [{path: {type: RegularExpression, value: "/(unclosed"}}]
      backends: [{url: "http://127.0.0.1:1"}]
`,
    );
    const result = await runCli(['validate', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('spec.rules[0].matches[0].path.value: Invalid regular expression "/(unclosed": missing ).');
    expect(result.stdout).not.toContain('^(?:');
  });

  it('with --check-providers, fetches each policy\'s discovery document and says why it failed', async () => {
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    const file = write(
      'unreachable.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: gone}
spec: {issuer: "http://127.0.0.1:${port}/us-east-1_Gone12345", clientID: c}
`,
    );
    const offline = await runCli(['validate', '-f', file]);
    expect(offline.code).toBe(0); // no network unless asked
    const result = await runCli(['validate', '-f', file, '--check-providers']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(`OIDCPolicy default/gone\\s+Ready\\s+False\\s+DiscoveryFailed\\s+Discovery at http://127\\.0\\.0\\.1:${port}/us-east-1_Gone12345/\\.well-known/openid-configuration failed: connection refused \\(ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)\\.`),
    );
    // What status.provider would hold: no keys, never fetched, the last error with its time.
    expect(result.stdout).toMatch(/OBJECT\s+PROVIDER\s+KEYS\s+LAST FETCH\s+DEGRADED\s+LAST ERROR\n/);
    expect(result.stdout).toMatch(new RegExp(`OIDCPolicy default/gone\\s+Cognito\\s+0\\s+-\\s+-\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ Discovery at http://127\\.0\\.0\\.1:${port}/`));
  });

  it('with --check-providers, lists each reachable provider with its keys and last fetch, as kubectl get shows them', async () => {
    const mint = await startCognitoMint();
    try {
      const file = write(
        'reachable.yaml',
        `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: pool}
spec: {issuer: "${mint.issuer}", provider: Cognito, clientID: c, bearer: {}}
`,
      );
      const result = await runCli(['validate', '-f', file, '--check-providers']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/OIDCPolicy default\/pool\s+Ready\s+True\s+Ready\s+Discovery and 2 signing key\(s\) fetched from the provider\./);
      expect(result.stdout).toMatch(/OIDCPolicy default\/pool\s+Cognito\s+2\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+False\s+-\n/);
      expect(result.stdout).toMatch(/every condition is True\.\n$/);
    } finally {
      await mint.close();
    }
  });
});
