// The token checks the docs promise, end to end (the proxy as its own process, the local
// Cognito-shaped key server): `iat` beyond now plus the clock skew is refused, a non-default
// `clockSkew` bounds `exp` both ways, and a claim rule on `email` holds only for an address the
// provider verified.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML, routeYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let echo: EchoServer;
let mint: CognitoMint;
let proxy: PortcullisProcess;

beforeAll(async () => {
  [echo, mint] = await Promise.all([startEchoServer(), startCognitoMint()]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-checks-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    policyYAML('machines', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}`) +
      policyYAML('skewed', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}
  clockSkew: 5s`) +
      policyYAML('emails', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.web}
  bearer: {tokenUse: id}
  authorization:
    claims:
      - {claim: email, values: [alice@example.com]}`) +
      routeYAML('api', `  rules:
    - matches: [{path: {value: /m2m}}]
      policyRef: {name: machines}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /skewed}}]
      policyRef: {name: skewed}
      backends: [{url: "${echo.url}"}]
    - matches: [{path: {value: /emails}}]
      policyRef: {name: emails}
      backends: [{url: "${echo.url}"}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir]);
  for (const name of ['machines', 'skewed', 'emails']) {
    await proxy.waitForLog((line) => line.policy === `default/${name}` && line.condition === 'Ready' && line.status === 'True');
  }
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), mint?.close()]);
});

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly challenge: string | null;
  /** Whether the upstream saw the request. */
  readonly forwarded: boolean;
}

async function call(path: string, token: string): Promise<Answer> {
  const before = echo.requests.length;
  const response = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code, challenge: response.headers.get('www-authenticate'), forwarded: echo.requests.length > before };
}

const seconds = () => Math.floor(Date.now() / 1000);

describe('iat', () => {
  it('an hour in the future: 401 invalid_token, TOKEN_ISSUED_IN_FUTURE, never forwarded', async () => {
    const answer = await call('/m2m/x', mint.mint({ iat: seconds() + 3600, exp: seconds() + 7200 }));
    expect(answer).toMatchObject({ status: 401, code: 'TOKEN_ISSUED_IN_FUTURE', forwarded: false });
    expect(answer.challenge).toMatch(/^Bearer realm="portcullis", error="invalid_token", error_description="The token was issued in the future/);
  });

  it('within the clock skew (30 s ahead, 60 s allowed): accepted', async () => {
    expect(await call('/m2m/x', mint.mint({ iat: seconds() + 30 }))).toMatchObject({ status: 200, forwarded: true });
  });

  it('beyond a 5 s skew (30 s ahead): refused', async () => {
    expect(await call('/skewed/x', mint.mint({ iat: seconds() + 30 }))).toMatchObject({ status: 401, code: 'TOKEN_ISSUED_IN_FUTURE', forwarded: false });
  });
});

describe('clockSkew: 5s', () => {
  it('refuses a token 10 s past exp', async () => {
    expect(await call('/skewed/x', mint.mint({ iat: seconds() - 600, exp: seconds() - 10 }))).toMatchObject({ status: 401, code: 'TOKEN_EXPIRED', forwarded: false });
  });

  it('accepts a token 3 s past exp', async () => {
    expect(await call('/skewed/x', mint.mint({ iat: seconds() - 600, exp: seconds() - 3 }))).toMatchObject({ status: 200, forwarded: true });
  });

  it('the default 60 s skew takes the token 10 s past exp', async () => {
    expect(await call('/m2m/x', mint.mint({ iat: seconds() - 600, exp: seconds() - 10 }))).toMatchObject({ status: 200, forwarded: true });
  });
});

describe('a claim rule on email', () => {
  it('email_verified false: 403 insufficient_scope, EMAIL_NOT_VERIFIED, never forwarded', async () => {
    const answer = await call('/emails/x', mint.mint({ email_verified: false }, { kind: 'id' }));
    expect(answer).toMatchObject({ status: 403, code: 'EMAIL_NOT_VERIFIED', forwarded: false });
    expect(answer.challenge).toMatch(/error="insufficient_scope"/);
  });

  it('email_verified absent: 403', async () => {
    expect(await call('/emails/x', mint.mint({ email_verified: undefined }, { kind: 'id' }))).toMatchObject({ status: 403, code: 'EMAIL_NOT_VERIFIED' });
  });

  it('email_verified true, or the string "true" as Cognito sometimes sends it: 200', async () => {
    expect(await call('/emails/x', mint.mint({ email_verified: true }, { kind: 'id' }))).toMatchObject({ status: 200, forwarded: true });
    expect(await call('/emails/x', mint.mint({ email_verified: 'true' }, { kind: 'id' }))).toMatchObject({ status: 200, forwarded: true });
  });

  it('a verified address that is not in the rule: 403 CLAIM_MISMATCH', async () => {
    expect(await call('/emails/x', mint.mint({ email: 'mallory@example.com', email_verified: true }, { kind: 'id' }))).toMatchObject({ status: 403, code: 'CLAIM_MISMATCH' });
  });
});
