// What the controller adds to compile()'s statuses before writing them: each policy's Ready, and
// Programmed not True on a Route with a rule whose policy's provider is not ready (that rule
// answers 503 POLICY_NOT_READY). The readiness comes from the auth runtime; here, as it would.
import type { ProviderHealth, ProviderReadiness } from '../../src/auth/provider.ts';
import { compile } from '../../src/compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/model/snapshot.ts';
import type { ObjectStatus } from '../../src/model/status.ts';
import { parseManifestText, toSnapshot } from '../../src/sources/manifests.ts';
import { withRuntimeConditions } from '../../src/status/runtime.ts';

const MANIFESTS = `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: cognito}
spec:
  issuer: https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123
  clientID: machines
---
apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: broken}
spec:
  issuer: http://issuer.example.com
  clientID: c
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: api}
spec:
  policyRef: {name: cognito}
  rules:
    - matches: [{path: {value: /api}}, {path: {value: /v2}}]
      backends: [{url: "http://upstream.internal"}]
    - public: true
      matches: [{path: {value: /}}]
      backends: [{url: "http://upstream.internal"}]
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: half}
spec:
  policyRef: {name: cognito}
  rules:
    - matches: [{path: {value: /half}}]
      backends: [{url: "http://upstream.internal"}]
    - matches: [{path: {value: /gone}}]
      backends: [{service: {name: ghost, port: 80}}]
`;

const { objects, problems } = parseManifestText(MANIFESTS, 'runtime.yaml');
const result = compile(toSnapshot(objects, problems, 'default'), DEFAULT_COMPILE_OPTIONS);

function statusesWhen(readiness: ProviderReadiness) {
  const statuses = withRuntimeConditions(result.statuses, result.table, () => readiness);
  const of = (kind: ObjectStatus['kind'], name: string) => statuses.find((s) => s.kind === kind && s.name === name)!;
  const condition = (kind: ObjectStatus['kind'], name: string, type: string) => of(kind, name).conditions.find((c) => c.type === type);
  return { of, condition };
}

test('compiled alone, every rule of Route api serves: Programmed True', () => {
  expect(result.statuses.find((s) => s.name === 'api')!.conditions.find((c) => c.type === 'Programmed')).toMatchObject({ status: 'True' });
});

test('while the provider is being fetched: Ready Unknown, and the Route Programmed Unknown, naming the rule once', () => {
  const { condition } = statusesWhen({ ready: false, reason: 'Pending', message: 'Fetching the discovery document and keys.', error: null, publicMessage: 'The identity provider of this route has not answered yet.' });
  expect(condition('OIDCPolicy', 'cognito', 'Ready')).toMatchObject({ status: 'Unknown', reason: 'Pending' });
  const programmed = condition('Route', 'api', 'Programmed')!;
  expect(programmed).toMatchObject({ status: 'Unknown', reason: 'Pending' });
  expect(programmed.message).toBe(
    "spec.rules[0]: OIDCPolicy default/cognito is still fetching its provider's discovery document and keys; until then requests to spec.rules[0] get 503 POLICY_NOT_READY.",
  );
});

test('when fetching failed: Ready False with why, and the Route Programmed False, PolicyNotReady', () => {
  const { condition } = statusesWhen({ ready: false, reason: 'DiscoveryFailed', message: 'Discovery at https://example/.well-known/openid-configuration failed: refused.', error: 'CONNECTION_REFUSED', publicMessage: 'The identity provider of this route is not reachable yet.' });
  expect(condition('OIDCPolicy', 'cognito', 'Ready')).toMatchObject({ status: 'False', reason: 'DiscoveryFailed' });
  expect(condition('Route', 'api', 'Programmed')).toEqual({
    type: 'Programmed',
    status: 'False',
    reason: 'PolicyNotReady',
    message: 'spec.rules[0]: OIDCPolicy default/cognito is not ready (DiscoveryFailed, see its Ready condition). Requests to spec.rules[0] get 503 POLICY_NOT_READY.',
  });
});

test('a Route already not Programmed for its spec keeps that reason; the wait is added to the message', () => {
  const { condition } = statusesWhen({ ready: false, reason: 'JWKSFailed', message: 'Keys failed.', error: 'CONNECTION_REFUSED', publicMessage: 'The signing keys of the identity provider of this route could not be read.' });
  const programmed = condition('Route', 'half', 'Programmed')!;
  expect(programmed.status).toBe('False');
  expect(programmed.reason).toBe('BackendNotFound');
  expect(programmed.message).toBe(
    'spec.rules[1].backends[0].service: Service default/ghost does not exist. Requests to spec.rules[1] get 503 BACKEND_UNRESOLVED. ' +
      'spec.rules[0]: OIDCPolicy default/cognito is not ready (JWKSFailed, see its Ready condition). Requests to spec.rules[0] get 503 POLICY_NOT_READY.',
  );
});

test('once ready: Ready True and the compiled conditions as they were; a policy that did not compile is not Ready', () => {
  const { condition, of } = statusesWhen({ ready: true, reason: 'Ready', message: 'Discovery and 2 signing key(s) fetched from the provider.' });
  expect(condition('OIDCPolicy', 'cognito', 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
  expect(of('Route', 'api')).toEqual(result.statuses.find((s) => s.name === 'api'));
  expect(condition('OIDCPolicy', 'broken', 'Ready')).toMatchObject({ status: 'False', reason: 'Invalid', message: 'The policy is not in use: Accepted is not True.' });
});

test('each policy status says which provider it resolved to', () => {
  expect(result.statuses.filter((s) => s.kind === 'OIDCPolicy').map((s) => [s.name, s.provider?.type])).toEqual([
    ['broken', 'Generic'],
    ['cognito', 'Cognito'],
  ]);
});

describe('with the provider health', () => {
  const READY = { ready: true, reason: 'Ready', message: 'Discovery and 2 signing key(s) fetched from the provider.' } as const;
  const at = Date.parse('2030-01-02T03:04:05.678Z');
  const statusesWith = (health: ProviderHealth | null, readiness: ProviderReadiness = READY) => {
    const statuses = withRuntimeConditions(result.statuses, result.table, () => readiness, () => health);
    return (name: string) => statuses.find((s) => s.kind === 'OIDCPolicy' && s.name === name)!;
  };

  test('healthy: Degraded False after Ready, and status.provider with the keys and the last fetch', () => {
    const policy = statusesWith({ keys: 2, lastFetchTime: at, lastError: null, degraded: false })('cognito');
    expect(policy.conditions.map((c) => c.type)).toEqual(['Accepted', 'ResolvedRefs', 'Ready', 'Degraded']);
    expect(policy.conditions.at(-1)).toEqual({ type: 'Degraded', status: 'False', reason: 'RefreshSucceeded', message: "The last refresh of the provider's discovery document and keys succeeded: 2 signing key(s)." });
    expect(policy.provider).toEqual({ type: 'Cognito', keys: 2, lastFetchTime: '2030-01-02T03:04:05Z' });
  });

  test('refreshing fails on cached keys: Ready still True, Degraded True naming the error, and the last error with its time', () => {
    const lastError = { code: 'CONNECTION_REFUSED', message: 'Discovery at https://idp.example/.well-known/openid-configuration failed: connection refused (ECONNREFUSED 10.0.0.1:443).', time: at + 60_000 } as const;
    const policy = statusesWith({ keys: 2, lastFetchTime: at, lastError, degraded: true })('cognito');
    expect(policy.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(policy.conditions.find((c) => c.type === 'Degraded')).toEqual({
      type: 'Degraded',
      status: 'True',
      reason: 'RefreshFailing',
      message: `Refreshing the provider's discovery document and keys fails: ${lastError.message} The 2 signing key(s) fetched before keep verifying tokens.`,
    });
    expect(policy.provider).toEqual({ type: 'Cognito', keys: 2, lastFetchTime: '2030-01-02T03:04:05Z', lastError: lastError.message, lastErrorTime: '2030-01-02T03:05:05Z' });
  });

  test('no keys yet: no Degraded (Ready says it all), KEYS 0 and the last error', () => {
    const lastError = { code: 'HTTP_UNAVAILABLE', message: 'Discovery at https://idp.example/x failed: it answered HTTP 503 Service Unavailable.', time: at } as const;
    const notReady = { ready: false, reason: 'DiscoveryFailed', message: lastError.message, error: 'HTTP_UNAVAILABLE', publicMessage: 'The identity provider of this route is not reachable yet.' } as const;
    const policy = statusesWith({ keys: 0, lastFetchTime: null, lastError, degraded: false }, notReady)('cognito');
    expect(policy.conditions.map((c) => c.type)).toEqual(['Accepted', 'ResolvedRefs', 'Ready']);
    expect(policy.provider).toEqual({ type: 'Cognito', keys: 0, lastError: lastError.message, lastErrorTime: '2030-01-02T03:04:05Z' });
  });

  test('a policy that did not compile has neither Degraded nor keys', () => {
    const policy = statusesWith({ keys: 2, lastFetchTime: at, lastError: null, degraded: false })('broken');
    expect(policy.conditions.map((c) => c.type)).not.toContain('Degraded');
    expect(policy.provider).toEqual({ type: 'Generic' });
  });
});
