// An upstream in a test host answers at the address a Service's EndpointSlice gives: the path
// the controller's proxy will take (Service → EndpointSlice → address), proven here before
// that proxy exists. The API server refuses loopback endpoints, hence the test host.
import { execFileSync } from 'node:child_process';
import { createTestHost, type HostedProcess, type TestHost } from '../support/netns.ts';
import { CLUSTER_START_TIMEOUT_MS, startCluster, type Cluster } from './harness.ts';

const NAMESPACE = 'upstreams';

let cluster: Cluster;
let host: TestHost;
let echo: HostedProcess;

beforeAll(async () => {
  [cluster, host] = await Promise.all([startCluster(), createTestHost()]);
  echo = await host.startEchoServer(8080);
  await cluster.ensureNamespace(NAMESPACE);
}, CLUSTER_START_TIMEOUT_MS);

afterAll(async () => {
  await host?.remove();
  await cluster?.stop();
});

interface EndpointSlice {
  endpoints: { addresses: string[]; conditions?: { ready?: boolean } }[];
  ports: { name?: string; port: number }[];
}

/** What a proxy does with a Service backend: the Service port's name, then every ready address of its slices with that port. */
async function resolveService(name: string, port: number): Promise<string[]> {
  const service = JSON.parse((await cluster.kubectl(['get', 'service', name, '-n', NAMESPACE, '-o', 'json'])).stdout) as { spec: { ports: { name?: string; port: number }[] } };
  const portName = service.spec.ports.find((p) => p.port === port)?.name;
  const slices = JSON.parse((await cluster.kubectl(['get', 'endpointslices', '-n', NAMESPACE, '-l', `kubernetes.io/service-name=${name}`, '-o', 'json'])).stdout) as { items: EndpointSlice[] };
  return slices.items.flatMap((slice) => {
    const target = slice.ports.find((p) => p.name === portName)?.port;
    if (target === undefined) return [];
    return slice.endpoints.filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses.map((address) => `${address}:${target}`));
  });
}

function serviceAndSlice(name: string, address: string, port: number): object[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ name: 'http', port: 80, targetPort: port }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    },
  ];
}

describe('an upstream in a test host', () => {
  it('lives outside loopback, in its own network namespace', () => {
    expect(host.address).toMatch(/^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+$/);
    expect(echo.url).toBe(`http://${host.address}:8080`);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(host.name);
  });

  it('answers through the address of its Service’s EndpointSlice', async () => {
    await cluster.apply(serviceAndSlice('echo', host.address, 8080), { namespace: NAMESPACE });
    const addresses = await resolveService('echo', 80);
    expect(addresses).toEqual([`${host.address}:8080`]);

    const response = await fetch(`http://${addresses[0]}/anything/through-the-slice?x=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ method: 'GET', path: '/anything/through-the-slice', query: 'x=1' });
  });

  it('is needed: the API server refuses a loopback address in an EndpointSlice', async () => {
    const [, slice] = serviceAndSlice('loopback', '127.0.0.1', 8080);
    const result = await cluster.kubectl(['apply', '-n', NAMESPACE, '-f', '-'], { input: JSON.stringify(slice) });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/loopback/);
  });
});

describe('test hosts', () => {
  it('are separate: two hosts get different addresses and each answers on its own', async () => {
    const other = await createTestHost();
    try {
      const otherEcho = await other.startEchoServer(8080);
      expect(other.address).not.toBe(host.address);
      expect((await fetch(`${otherEcho.url}/status/202`)).status).toBe(202);
      expect((await fetch(`${echo.url}/status/203`)).status).toBe(203);
    } finally {
      await other.remove();
    }
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(other.name);
    // Refused here, not sent down the default route to whatever might answer for it.
    await expect(fetch(`http://${other.address}:8080/`, { signal: AbortSignal.timeout(2_000) })).rejects.toMatchObject({ cause: { code: 'EHOSTUNREACH' } });
  });
});
