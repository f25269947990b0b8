// gRPC end to end through the real `portcullis` process: a @grpc/grpc-js client, Portcullis on
// its h2c and HTTPS listeners, a @grpc/grpc-js server behind it (h2c by appProtocol, or TLS by
// ALPN), tokens from the Cognito look-alike. Every kind of call, trailers, deadlines,
// cancellation, and Portcullis's own refusals as gRPC statuses.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { policyYAML } from '../support/manifests.ts';
import { freePort } from '../support/ports.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { createTestPki, type TestPki } from '../support/tls.ts';
import { bearer, echoClient, grpc, startGrpcEcho, unary, type EchoClientInstance, type EchoReply, type GrpcEcho } from './support.ts';

const READ = 'default-m2m-resource-server/read';
const HOSTS = ['grpc.example.test', 'admins.example.test', 'tls-upstream.example.test', 'down.example.test', 'slow.example.test', 'unready.example.test', 'service.example.test'];

let pki: TestPki;
let mint: CognitoMint;
let h2cEcho: GrpcEcho;
let tlsEcho: GrpcEcho;
let proxy: PortcullisProcess;
let token: string;
const clients: EchoClientInstance[] = [];

const tlsSecret = (name: string, pair: { key: string; cert: string }) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(pair.cert).toString('base64')}
  tls.key: ${Buffer.from(pair.key).toString('base64')}
---
`;

const route = (name: string, host: string, policy: string, backend: string, extra = '') => `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ${name}}
spec:
  hostnames: [${host}]
  tls: {secretRef: {name: edge}}
  policyRef: {name: ${policy}}
  rules: [{backends: [${backend}]${extra}}]
---
`;

beforeAll(async () => {
  pki = createTestPki();
  mint = await startCognitoMint();
  h2cEcho = await startGrpcEcho();
  // The proxy forwards the client's Host, and undici names the request's host in SNI and checks
  // the certificate against it: the upstream's certificate names the Route's host.
  tlsEcho = await startGrpcEcho(pki.issue([HOSTS[2]!]));
  const closedPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-grpc-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    tlsSecret('edge', pki.issue(HOSTS)) +
      policyYAML('machines', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}
  authorization: {requiredScopes: [${READ}]}
  forward: {headers: {X-Client-Id: client_id}}`) +
      policyYAML('admins', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}
  authorization: {groups: [admins]}`) +
      policyYAML('unready', `  issuer: http://127.0.0.1:${closedPort}/pool
  clientID: ${mint.clientIds.machine}
  bearer: {}`) +
      route('grpc', HOSTS[0]!, 'machines', `{url: "http://${h2cEcho.address}", appProtocol: kubernetes.io/h2c}`) +
      route('admins', HOSTS[1]!, 'admins', `{url: "http://${h2cEcho.address}", appProtocol: kubernetes.io/h2c}`) +
      route('tls-upstream', HOSTS[2]!, 'machines', `{url: "https://${tlsEcho.address}"}`) +
      route('down', HOSTS[3]!, 'machines', `{url: "http://127.0.0.1:${closedPort}", appProtocol: kubernetes.io/h2c}`) +
      route('slow', HOSTS[4]!, 'machines', `{url: "http://${h2cEcho.address}", appProtocol: kubernetes.io/h2c}`, ', timeouts: {request: 300ms}') +
      route('unready', HOSTS[5]!, 'unready', `{url: "http://${h2cEcho.address}", appProtocol: kubernetes.io/h2c}`) +
      route('service', HOSTS[6]!, 'machines', '{service: {name: greeter, port: 50051}}') +
      // A Service whose port says h2c, and its endpoint (standalone reads both from files).
      `apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports: [{name: grpc, port: 50051, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: greeter-1, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
ports: [{name: grpc, port: ${h2cEcho.port}, appProtocol: kubernetes.io/h2c}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
`,
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen-tls', '127.0.0.1:0', '--listen-h2c', '127.0.0.1:0'], { env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile } });
  token = mint.mint();
  // The provider's keys are fetched once the table is in force: the first call that passes.
  const client = h2c(HOSTS[0]!);
  await waitFor(async () => (await unary(client, { text: 'ready?' }, bearer(token))).error === null, 'the policy to be ready');
});

afterAll(async () => {
  for (const client of clients) client.close();
  await proxy?.stop();
  await Promise.all([h2cEcho?.close(), tlsEcho?.close(), mint?.close()]);
  pki?.remove();
});

/** A client of the h2c listener that names `host` as its :authority. */
function h2c(host: string): EchoClientInstance {
  const client = echoClient(proxy.h2cURL!, { authority: host });
  clients.push(client);
  return client;
}

/** A client of the HTTPS listener (HTTP/2 by ALPN) for `host`. */
function tls(host: string): EchoClientInstance {
  const client = echoClient(proxy.tlsURL!, { ca: pki.caCert, servername: host, authority: host });
  clients.push(client);
  return client;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('gRPC calls through Portcullis', () => {
  it.each([
    ['h2c', () => h2c(HOSTS[0]!)],
    ['TLS (h2 by ALPN)', () => tls(HOSTS[0]!)],
  ])('a unary call over %s reaches the server with the identity headers, and its trailers come back', async (_name, client) => {
    const { reply, error, trailers } = await unary(client(), { text: 'hello' }, bearer(token));
    expect(error).toBeNull();
    expect(reply!.text).toBe('hello');
    expect(reply!.metadata['x-client-id']).toBe(mint.clientIds.machine);
    expect(reply!.metadata['x-portcullis-client-id']).toBe(mint.clientIds.machine);
    expect(reply!.metadata['x-request-id']).toMatch(/./);
    expect(trailers['x-echo-trailer']).toBe('kept');
  });

  it("a unary call reaches a Service's endpoint over h2c, as its port's appProtocol says", async () => {
    const { reply, error } = await unary(h2c(HOSTS[6]!), { text: 'through the service' }, bearer(token));
    expect(error).toBeNull();
    expect(reply!.text).toBe('through the service');
  });

  it('a unary call reaches a TLS upstream over HTTP/2 chosen by ALPN', async () => {
    const { reply, error } = await unary(tls(HOSTS[2]!), { text: 'over tls' }, bearer(token));
    expect(error).toBeNull();
    expect(reply!.text).toBe('over tls');
    expect(tlsEcho.started).toContain('over tls');
  });

  it("an upstream's error status, message and trailing metadata reach the client (a trailers-only answer)", async () => {
    const { error, trailers } = await unary(h2c(HOSTS[0]!), { text: 'nope', fail_code: grpc.status.NOT_FOUND }, bearer(token));
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    expect(error?.details).toBe('Failed on purpose: nope');
    expect(trailers['x-echo-trailer']).toBe('kept');
  });

  it('server streaming: every message, then the trailers', async () => {
    const call = h2c(HOSTS[0]!).ServerStream({ text: 'tick', count: 5, delay_ms: 10 }, bearer(token));
    const texts: string[] = [];
    call.on('data', (reply: EchoReply) => texts.push(reply.text));
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    expect(status.code).toBe(grpc.status.OK);
    expect(texts).toEqual(['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4']);
    expect(status.metadata.get('x-echo-trailer')).toEqual(['kept']);
  });

  it('client streaming: every message reaches the server', async () => {
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = tls(HOSTS[0]!).ClientStream(bearer(token), {}, (error, answer) => (error ? reject(error) : resolve(answer!)));
      for (const text of ['a', 'b', 'c']) call.write({ text });
      call.end();
    });
    expect(reply.text).toBe('a,b,c');
  });

  it('bidi streaming: each message is answered before the next is sent (nothing is held back)', async () => {
    const call = h2c(HOSTS[0]!).Bidi(bearer(token));
    const answers: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      call.write({ text });
      answers.push(await new Promise<string>((resolve) => call.once('data', (reply: EchoReply) => resolve(reply.text))));
    }
    call.end();
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    expect(answers).toEqual(['echo one', 'echo two', 'echo three']);
    expect(status.code).toBe(grpc.status.OK);
  });

  it('a cancelled call is cancelled upstream', async () => {
    const call = h2c(HOSTS[0]!).Unary({ text: 'to cancel', delay_ms: 10_000 }, bearer(token), {}, () => {});
    await waitFor(() => h2cEcho.started.includes('to cancel'), 'the call to reach the server');
    call.cancel();
    await waitFor(() => h2cEcho.cancelled.includes('to cancel'), 'the server to see the cancellation');
  });

  it('grpc-timeout is honoured: DEADLINE_EXCEEDED, and the upstream call is cancelled', async () => {
    const { error } = await unary(h2c(HOSTS[0]!), { text: 'deadline', delay_ms: 10_000 }, bearer(token), { deadline: Date.now() + 300 });
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => h2cEcho.cancelled.includes('deadline'), 'the server to see the cancellation');
  });
});

describe("Portcullis's own refusals are gRPC statuses (trailers-only), never redirects", () => {
  it.each([
    ['no token', HOSTS[0]!, () => bearer(), grpc.status.UNAUTHENTICATED, 'TOKEN_MISSING'],
    ['an invalid token', HOSTS[0]!, () => bearer('invalid_token'), grpc.status.UNAUTHENTICATED, 'TOKEN_MALFORMED'],
    ['a token without the group', HOSTS[1]!, () => bearer(token), grpc.status.PERMISSION_DENIED, 'GROUP_MISSING'],
    ['no reachable backend', HOSTS[3]!, () => bearer(token), grpc.status.UNAVAILABLE, 'UPSTREAM_CONNECT_FAILED'],
    ['a provider that is not ready', HOSTS[5]!, () => bearer(token), grpc.status.UNAVAILABLE, 'POLICY_NOT_READY'],
  ])('%s', async (_name, host, metadata, code, logged) => {
    for (const client of [h2c(host), tls(host)]) {
      const { error, trailers } = await unary(client, { text: 'refused' }, metadata());
      expect(error?.code).toBe(code);
      expect(error?.details).toMatch(/\.$/);
      expect(trailers['x-request-id']).toMatch(/./);
      await proxy.waitForLog((line) => line.requestId === trailers['x-request-id'] && line.code === logged);
    }
  });

  it('a streaming call is refused as well, while its client is still sending', async () => {
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = h2c(HOSTS[0]!).ClientStream(bearer(), {}, () => {});
      call.on('status', resolve);
      call.write({ text: 'a' });
      call.write({ text: 'b' });
    });
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    const bidi = h2c(HOSTS[1]!).Bidi(bearer(token));
    bidi.on('error', () => {}); // the refusal, also reported as 'status'
    const refusal = new Promise<grpc.StatusObject>((resolve) => bidi.on('status', resolve));
    bidi.write({ text: 'one' });
    const refused = await refusal;
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("a rule's request timeout is DEADLINE_EXCEEDED, with Portcullis's message", async () => {
    const { error } = await unary(h2c(HOSTS[4]!), { text: 'too slow', delay_ms: 5_000 }, bearer(token));
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(error?.details).toBe('The upstream did not answer in time.');
  });
});
