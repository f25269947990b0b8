// A provider behind a private CA trusted per policy (caBundleRef), and claim rules.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpsCognito, type HttpsCognito } from '../controller/https-cognito.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';

let pki: TestPki;
let provider: HttpsCognito;
let echo: EchoServer;
let proxy: PortcullisProcess;

beforeAll(async () => {
  pki = createTestPki();
  provider = await startHttpsCognito(pki);
  echo = await startEchoServer();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-trust-'));
  const policy = (name: string, extra: string) => `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: ${name}}
spec:
  issuer: ${provider.issuer}
  provider: Cognito
  clientID: ${provider.mint.clientIds.machine}
  bearer: {}
${extra}
---
`;
  writeFileSync(
    join(dir, 'manifests.yaml'),
    `apiVersion: v1
kind: Secret
metadata: {name: corp-ca}
stringData:
  ca.crt: |
${pki.caCert.trim().split('\n').map((line) => `    ${line}`).join('\n')}
---
` +
      policy('trusted', '  caBundleRef: {name: corp-ca}') +
      policy('untrusted', '') +
      policy('partners', `  caBundleRef: {name: corp-ca}
  authorization:
    claims:
      - {claim: "custom:tenant", values: [acme, initech]}
      - {claim: scope, values: [default-m2m-resource-server/read]}`) +
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api}
spec:
  rules:
    - matches: [{path: {value: /trusted}}]
      policyRef: {name: trusted}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /untrusted}}]
      policyRef: {name: untrusted}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /partners}}]
      policyRef: {name: partners}
      backends: [{url: "${echo.url}"}]
`,
  );
  // No NODE_EXTRA_CA_CERTS here: only the policy's own bundle can make the provider trusted.
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  proxy = await startPortcullis(['standalone', '-f', dir], { env });
  await proxy.waitForLog((l) => l.policy === 'default/trusted' && l.status === 'True');
  await proxy.waitForLog((l) => l.policy === 'default/partners' && l.status === 'True');
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([provider?.close(), echo?.close()]);
  pki?.remove();
});

const call = async (path: string, token: string) => {
  const response = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, code: ((await response.json()) as { error?: { code: string } }).error?.code };
};

describe('extra CA certificates per policy (caBundleRef)', () => {
  it('trusts the provider through the policy\'s bundle', async () => {
    expect((await call('/trusted/x', provider.token())).status).toBe(200);
  });

  it('does not trust it for a policy without the bundle: Ready=False, 503, never a token accepted', async () => {
    const line = await proxy.waitForLog((l) => l.policy === 'default/untrusted' && l.condition === 'Ready' && l.status === 'False');
    expect(line.reason).toBe('DiscoveryFailed');
    expect(await call('/untrusted/x', provider.token())).toEqual({ status: 503, code: 'POLICY_NOT_READY' });
  });
});

describe('claim rules', () => {
  it('let a token through when every rule has one of its values', async () => {
    expect((await call('/partners/x', provider.token({ 'custom:tenant': 'initech' }))).status).toBe(200);
  });

  it('answer 403 when a claim has none of the values, or is missing', async () => {
    expect(await call('/partners/x', provider.token({ 'custom:tenant': 'globex' }))).toEqual({ status: 403, code: 'CLAIM_MISMATCH' });
    expect(await call('/partners/x', provider.token())).toEqual({ status: 403, code: 'CLAIM_MISMATCH' });
  });
});
