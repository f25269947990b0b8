// HTTP/2 abuse, bounded: one client's connection cannot take the proxy from the others. Raw
// frames on a socket, as an attacker would write them: rapid reset (CVE-2023-44487) and a
// CONTINUATION flood (CVE-2024-27316); and the limits the proxy announces in its SETTINGS.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as connectHttp2, constants } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { policyYAML, routeYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { bearer, echoClient, startGrpcEcho, unary, type EchoClientInstance, type GrpcEcho } from './support.ts';

let mint: CognitoMint;
let echo: GrpcEcho;
let proxy: PortcullisProcess;
let client: EchoClientInstance;
let token: string;

beforeAll(async () => {
  mint = await startCognitoMint();
  echo = await startGrpcEcho();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-h2-abuse-'));
  writeFileSync(
    join(dir, 'manifests.yaml'),
    policyYAML('machines', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}`) +
      routeYAML('grpc', `  hostnames: [grpc.example.test]
  policyRef: {name: machines}
  rules: [{backends: [{url: "http://${echo.address}", appProtocol: kubernetes.io/h2c}]}]`) +
      routeYAML('open', `  hostnames: [open.example.test]
  rules: [{public: true, backends: [{url: "http://${echo.address}", appProtocol: kubernetes.io/h2c}]}]`),
  );
  proxy = await startPortcullis(['standalone', '-f', dir, '--listen-h2c', '127.0.0.1:0']);
  token = mint.mint();
  client = echoClient(proxy.h2cURL!, { authority: 'grpc.example.test' });
  // The provider's keys are fetched once the table is in force: the first call that passes.
  for (let ready = false; !ready; ) ready = (await unary(client, { text: 'ready?' }, bearer(token))).error === null;
});

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await Promise.all([echo?.close(), mint?.close()]);
});

// --- HTTP/2 frames, by hand (RFC 9113 §4.1) ---------------------------------------------------------
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const FRAME = { HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7, CONTINUATION: 0x9 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK: `:method POST`, `:scheme http`, `:path /portcullis.test.Echo/Unary`, `:authority host`, content-type application/grpc; literals, no Huffman. */
function requestBlock(host: string): Buffer {
  const literal = (index: number, value: string) => Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value)]);
  // content-type is static entry 31: past the 4-bit prefix (15), one more byte (16).
  const contentType = Buffer.concat([Buffer.from([0x0f, 0x10, 16]), Buffer.from('application/grpc')]);
  return Buffer.concat([Buffer.from([0x83, 0x86]), literal(0x04, '/portcullis.test.Echo/Unary'), literal(0x01, host), contentType]);
}

/** A raw connection to the h2c listener: the preface and empty SETTINGS sent; `goaway` resolves with the GOAWAY's error code. */
async function rawSession(): Promise<{ socket: Socket; goaway: Promise<number>; closed: Promise<void> }> {
  const { hostname, port } = new URL(proxy.h2cURL!);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  let buffered = Buffer.alloc(0);
  const goaway = new Promise<number>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        if (buffered.readUInt8(3) === FRAME.GOAWAY) resolve(buffered.readUInt32BE(9 + 4));
        buffered = buffered.subarray(9 + length);
      }
    });
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, goaway, closed };
}

describe('HTTP/2 abuse', () => {
  it('announces its limits: 128 concurrent streams, and a bounded header list', async () => {
    const session = connectHttp2(proxy.h2cURL!);
    const [settings] = (await once(session, 'remoteSettings')) as [{ maxConcurrentStreams: number; maxHeaderListSize: number }];
    session.close();
    expect(settings.maxConcurrentStreams).toBe(128);
    expect(settings.maxHeaderListSize).toBe(64 * 1024);
  });

  it("rapid reset: 1,000 streams opened and reset at once are cut with GOAWAY, while another client's call succeeds within 2 s", async () => {
    const attacker = await rawSession();
    const flood: Buffer[] = [];
    for (let i = 0; i < 1_000; i++) {
      const stream = 2 * i + 1;
      flood.push(frame(FRAME.HEADERS, END_HEADERS, stream, requestBlock('open.example.test')), frame(FRAME.RST_STREAM, 0, stream, Buffer.from([0, 0, 0, constants.NGHTTP2_CANCEL])));
    }
    attacker.socket.write(Buffer.concat(flood));
    const started = performance.now();
    const { error, reply } = await unary(client, { text: 'meanwhile' }, bearer(token));
    const elapsed = performance.now() - started;
    expect(error).toBeNull();
    expect(reply!.text).toBe('meanwhile');
    expect(elapsed).toBeLessThan(2_000);
    expect(await attacker.goaway).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await attacker.closed;
  });

  it('CONTINUATION flood: a header block split into endless CONTINUATION frames is refused, and the proxy keeps serving', async () => {
    const attacker = await rawSession();
    const block = requestBlock('open.example.test');
    const frames = [frame(FRAME.HEADERS, END_STREAM, 1, block)];
    // Each CONTINUATION frame adds one more small header; none ends the block.
    for (let i = 0; i < 10_000; i++) frames.push(frame(FRAME.CONTINUATION, 0, 1, Buffer.from([0x40, 1, 0x78, 1, 0x79])));
    attacker.socket.write(Buffer.concat(frames));
    expect(await attacker.goaway).not.toBe(constants.NGHTTP2_NO_ERROR);
    await attacker.closed;
    const { error } = await unary(client, { text: 'still here' }, bearer(token));
    expect(error).toBeNull();
  });
});
