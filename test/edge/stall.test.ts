// The two stall attacks of issue 13, against `portcullis standalone` with its default limits:
// 300 clients that send a request body at 50 bytes/s to a public rule, and 300 clients that
// never read a 100 MB download. Meanwhile a valid token on a protected rule of the same
// upstream is answered 200 in under 2 s. The proxy's memory during each attack is printed.
//
// The downloads are paced by the upstream (16 KB/s each). At full speed, every unread download
// fills the kernel's socket buffers on its way — about 9.5 MB on loopback (4 MB queued from the
// proxy to the client, 1.3 MB from the upstream to the proxy, 4 MB in the upstream's send
// queue) — and 300 of them take the host's TCP memory to the edge of `net.ipv4.tcp_mem`, which
// stalls every other process's connections. Paced, the attack holds the same 300 upstream
// connections for as long, at a fraction of the memory.
import { rawClient, rssMB, sleep, startEdge, type Edge, type RawClient } from './support.ts';

const CLIENTS = 300;

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge();
});

afterAll(async () => {
  await edge?.close();
});

/** A few valid-token requests to the protected rule, one after the other: each status and time. */
async function protectedRequests(count: number): Promise<{ status: number; ms: number }[]> {
  const results: { status: number; ms: number }[] = [];
  for (let i = 0; i < count; i++) {
    const started = Date.now();
    const response = await fetch(`${edge.proxy.url}/m2m/during-attack`, { headers: edge.bearer(), signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    results.push({ status: response.status, ms: Date.now() - started });
  }
  return results;
}

async function openClients(read: boolean): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await rawClient(edge.proxy.url, { read }));
  return clients;
}

describe('stall attacks', () => {
  it(`${CLIENTS} clients sending bodies at 50 bytes/s to a public rule hold no upstream connection`, async () => {
    const rssBefore = rssMB(edge.proxy);
    const heads = edge.upstream.heads;
    const clients = await openClients(true);
    for (const client of clients) client.socket.write('POST /public/slow-upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10240\r\n\r\n');
    const drip = setInterval(() => {
      for (const client of clients) client.socket.write(Buffer.alloc(50, 's'));
    }, 1_000);
    try {
      await sleep(3_000);
      const answers = await protectedRequests(3);
      const rssDuring = rssMB(edge.proxy);
      console.log(`slow bodies: ${CLIENTS} clients at 50 B/s; protected request ${answers.map((a) => `${a.status} in ${a.ms} ms`).join(', ')}; proxy RSS ${rssBefore} MB before, ${rssDuring} MB during; upstream connections open ${edge.upstream.open}`);
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.ms).toBeLessThan(2_000);
      }
      // Only the protected requests reached the upstream; every slow client is still connected.
      expect(edge.upstream.heads - heads).toBe(answers.length);
      expect(edge.upstream.open).toBeLessThan(10);
      expect(clients.filter((client) => client.closed())).toEqual([]);
    } finally {
      clearInterval(drip);
      for (const client of clients) client.socket.destroy();
    }
  }, 60_000);

  it(`${CLIENTS} clients that never read a 100 MB download leave the upstream's other requests unharmed`, async () => {
    const rssBefore = rssMB(edge.proxy);
    const heads = edge.upstream.heads;
    const clients = await openClients(false);
    for (const client of clients) client.socket.write('GET /bytes/100000000?rate=16384 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    try {
      const deadline = Date.now() + 20_000;
      while (edge.upstream.heads - heads < CLIENTS) {
        if (Date.now() > deadline) throw new Error(`Only ${edge.upstream.heads - heads} downloads reached the upstream.`);
        await sleep(50);
      }
      await sleep(2_000);
      const answers = await protectedRequests(3);
      const rssDuring = rssMB(edge.proxy);
      console.log(`unread downloads: ${CLIENTS} clients; protected request ${answers.map((a) => `${a.status} in ${a.ms} ms`).join(', ')}; proxy RSS ${rssBefore} MB before, ${rssDuring} MB during; upstream connections open ${edge.upstream.open}`);
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.ms).toBeLessThan(2_000);
      }
      expect(edge.upstream.open).toBeGreaterThanOrEqual(CLIENTS); // the attack is real: each holds a connection
    } finally {
      for (const client of clients) client.socket.destroy();
    }
  }, 60_000);
});
