// The rapid-reset guard on real HTTP/2 sessions (node:http2 server and client on loopback), with
// its clock in the test's hands: a burst past the budget is cut with GOAWAY, while a client that
// resets as often, but spread over time, is not.
import { once } from 'node:events';
import { connect, constants, createServer, type ClientHttp2Session, type Http2Server, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { guardResets } from '../../src/proxy/h2/session.ts';

const BUDGET = 10;
let server: Http2Server;
let clock = 0;

beforeEach(async () => {
  clock = 0;
  // Streams are left unanswered: a reset always finds the answer unfinished.
  server = createServer();
  server.on('session', (session: ServerHttp2Session) => guardResets(session, BUDGET, () => clock));
  server.on('stream', (stream) => stream.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function session(): Promise<{ client: ClientHttp2Session; goaway: Promise<number> }> {
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on('error', () => {});
  const goaway = new Promise<number>((resolve) => client.once('goaway', (code: number) => resolve(code)));
  await once(client, 'remoteSettings');
  return { client, goaway };
}

/** Opens a stream, waits until the server has it, and resets it. */
async function openAndReset(client: ClientHttp2Session): Promise<void> {
  const arrived = once(server, 'stream');
  const stream = client.request({ ':path': '/' });
  stream.on('error', () => {});
  await arrived;
  const closed = once(stream, 'close');
  stream.close(constants.NGHTTP2_CANCEL);
  await closed;
}

describe('the rapid-reset guard', () => {
  it('closes a session with GOAWAY (ENHANCE_YOUR_CALM) once its resets pass the budget', async () => {
    const { client, goaway } = await session();
    for (let i = 0; i < BUDGET; i++) await openAndReset(client);
    expect(client.destroyed).toBe(false);
    const stream = client.request({ ':path': '/' });
    stream.on('error', () => {});
    await once(server, 'stream');
    stream.close(constants.NGHTTP2_CANCEL);
    expect(await goaway).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    client.destroy();
  });

  it('leaves a session alone that resets as many streams, spread over time', async () => {
    const { client } = await session();
    for (let i = 0; i < 5 * BUDGET; i++) {
      await openAndReset(client);
      clock += 1000 / BUDGET; // one budget a second, exactly
    }
    // Still serving: one more stream reaches the server.
    const arrived = once(server, 'stream');
    client.request({ ':path': '/' }).on('error', () => {});
    await arrived;
    expect(client.destroyed).toBe(false);
    client.destroy();
  });
});
