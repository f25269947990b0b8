// ClusterOIDCPolicies in standalone mode, as the real process serves them from a folder:
// `kind: Namespace` manifests give the labels (a namespace without one has none), a policy
// defaulting a labelled namespace protects its Route that names no policy (401 without a token,
// 200 with one), relabelling the namespace removes that, `allowPublicRoutes: false` refuses a
// public rule (503), a reference the policy's namespaceSelector does not admit answers 503; and
// `portcullis validate` shows the defaulting, the conflict and RefNotPermitted.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { runCli } from '../support/cli.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let mint: CognitoMint;
let echo: EchoServer;
let proxy: PortcullisProcess;
let dir: string;

/** Writes like an editor: a new file renamed over the old one. */
function save(name: string, text: string): void {
  const temporary = join(dir, `.${name}.tmp`);
  writeFileSync(temporary, text);
  renameSync(temporary, join(dir, name));
}

const namespaces = (labels: string) => `apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {${labels}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: partners, labels: {partner: "yes"}}
`;

beforeAll(async () => {
  [mint, echo] = await Promise.all([startCognitoMint(), startEchoServer({ record: false })]);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-policy-'));
  save('namespaces.yaml', namespaces('protect: "yes"'));
  save(
    'platform.yaml',
    `apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: platform, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  issuer: "${mint.issuer}"
  provider: Cognito
  clientID: "${mint.clientIds.machine}"
  clientSecretRef: {namespace: platform, name: cognito, key: client-secret}
  namespaceSelector: {matchLabels: {partner: "yes"}}
  defaultFor: {matchLabels: {protect: "yes"}}
---
apiVersion: v1
kind: Secret
metadata: {name: cognito, namespace: platform}
stringData: {client-secret: s3cr3t}
---
apiVersion: portcullis.dev/v1alpha1
kind: ClusterOIDCPolicy
metadata: {name: latecomer, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  issuer: "${mint.issuer}"
  clientID: latecomer
  defaultFor: {matchExpressions: [{key: protect, operator: Exists}]}
`,
  );
  save(
    'routes.yaml',
    `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: app, namespace: team-a}
spec:
  rules:
    - matches: [{path: {value: /app}}]
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /open}}]
      public: true
      backends: [{url: "${echo.url}"}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: portal, namespace: partners}
spec:
  policyRef: {kind: ClusterOIDCPolicy, name: platform}
  rules: [{matches: [{path: {value: /portal}}], backends: [{url: "${echo.url}"}]}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: borrow, namespace: elsewhere}
spec:
  rules:
    - matches: [{path: {value: /borrow}}]
      policyRef: {kind: ClusterOIDCPolicy, name: platform}
      backends: [{url: "${echo.url}"}]
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir]);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([mint?.close(), echo?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, token?: string) => fetch(`${proxy.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
const answer = async (path: string, token?: string) => {
  const response = await get(path, token);
  const body = (await response.json().catch(() => null)) as { error?: { code?: string } } | null;
  return { status: response.status, code: body?.error?.code };
};

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`Not within ${timeoutMs} ms: ${what}.`);
    await sleep(25);
  }
}

describe('a ClusterOIDCPolicy in standalone mode', () => {
  it('protects the Route of a namespace it defaults: 401 without a token, 200 with one', async () => {
    await until('the provider to be ready', async () => ((await answer('/app')).status === 401 ? true : undefined));
    expect(await answer('/app')).toEqual({ status: 401, code: 'TOKEN_MISSING' });
    expect((await get('/app', 'invalid_token')).status).toBe(401);
    expect((await get('/app', mint.mint())).status).toBe(200);
  });

  it('refuses a public rule there, since the policy allows none', async () => {
    expect(await answer('/open')).toEqual({ status: 503, code: 'PUBLIC_NOT_ALLOWED' });
    expect(await answer('/open', mint.mint())).toEqual({ status: 503, code: 'PUBLIC_NOT_ALLOWED' });
  });

  it('admits a reference from a namespace its namespaceSelector selects, and answers 503 to one from elsewhere', async () => {
    expect((await get('/portal')).status).toBe(401);
    expect((await get('/portal', mint.mint())).status).toBe(200);
    expect(await answer('/borrow', mint.mint())).toEqual({ status: 503, code: 'POLICY_NOT_PERMITTED' });
  });

  it('shows in validate which policy protects each rule and why, the conflict, and RefNotPermitted', async () => {
    const result = await runCli(['validate', '-f', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Route team-a\/app\s+spec\.rules\[0\]\s+ClusterOIDCPolicy\/platform\s+default of namespace team-a\n/);
    expect(result.stdout).toMatch(/Route team-a\/app\s+spec\.rules\[1\]\s+public\s+public: true\n/);
    expect(result.stdout).toMatch(/Route partners\/portal\s+spec\.rules\[0\]\s+ClusterOIDCPolicy\/platform\s+the Route's policyRef\n/);
    expect(result.stdout).toMatch(/Route team-a\/app\s+Accepted\s+False\s+PublicNotAllowed\s+spec\.rules\[1\]\.public: ClusterOIDCPolicy platform protects namespace team-a and allows no public rules/);
    expect(result.stdout).toMatch(/Route elsewhere\/borrow\s+ResolvedRefs\s+False\s+RefNotPermitted\s+spec\.rules\[0\]\.policyRef: ClusterOIDCPolicy platform does not admit namespace elsewhere/);
    expect(result.stdout).toMatch(/ClusterOIDCPolicy platform\s+team-a\s+yes\n/);
    expect(result.stdout).toMatch(/ClusterOIDCPolicy latecomer\s+team-a\s+no\s+ClusterOIDCPolicy platform is older and defaults this namespace too\.\n/);
  });

  it('leaves the Route public again once the namespace loses its label, and protects it once it has it back', async () => {
    save('namespaces.yaml', namespaces('team: a'));
    await until('the Route to be public', async () => ((await get('/app')).status === 200 ? true : undefined));
    expect((await get('/open')).status).toBe(200);
    save('namespaces.yaml', namespaces('protect: "yes"'));
    await until('the Route to be protected again', async () => ((await get('/app')).status === 401 ? true : undefined));
    expect((await get('/app', mint.mint())).status).toBe(200);
  });
});
