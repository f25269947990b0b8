// The gRPC side of the HTTP/2 tests: a real @grpc/grpc-js server (the Echo service of
// echo.proto, over h2c or TLS) that records what it saw, and clients for it.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export interface EchoRequest {
  text?: string;
  count?: number;
  delay_ms?: number;
  fail_code?: number;
}

export interface EchoReply {
  text: string;
  metadata: Record<string, string>;
}

const definition = grpc.loadPackageDefinition(loadSync(join(import.meta.dirname, 'echo.proto'), { keepCase: true, defaults: true })) as unknown as {
  portcullis: { test: { Echo: grpc.ServiceClientConstructor } };
};
export const EchoClient = definition.portcullis.test.Echo;

export interface GrpcEcho {
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly port: number;
  /** Calls that reached the server, and those whose client went away before it answered, by the text they carried. */
  readonly started: string[];
  readonly cancelled: string[];
  close(): Promise<void>;
}

/** What the server saw of a call's metadata, as one string per key. */
function seen(metadata: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(metadata.getMap())) out[key] = String(values);
  return out;
}

function trailer(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-echo-trailer', 'kept');
  return metadata;
}

/** Starts the Echo service on 127.0.0.1; with `tls`, over TLS (h2 by ALPN), else h2c. */
export async function startGrpcEcho(tls?: { key: string; cert: string }): Promise<GrpcEcho> {
  const server = new grpc.Server();
  const started: string[] = [];
  const cancelled: string[] = [];
  const watch = (call: grpc.ServerUnaryCall<EchoRequest, EchoReply> | grpc.ServerWritableStream<EchoRequest, EchoReply>, text: string) => {
    started.push(text);
    call.on('cancelled', () => cancelled.push(text));
  };
  server.addService(EchoClient.service, {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const { text = '', delay_ms = 0, fail_code = 0 } = call.request;
      watch(call, text);
      setTimeout(() => {
        if (call.cancelled) return;
        if (fail_code !== 0) callback({ code: fail_code, details: `Failed on purpose: ${text}`, metadata: trailer() });
        else callback(null, { text, metadata: seen(call.metadata) }, trailer());
      }, delay_ms);
    },
    ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      const { text = '', count = 0, delay_ms = 0 } = call.request;
      watch(call, text);
      let sent = 0;
      const next = () => {
        if (call.cancelled) return;
        if (sent === count) {
          call.end(trailer());
          return;
        }
        call.write({ text: `${text} ${sent++}`, metadata: seen(call.metadata) });
        setTimeout(next, delay_ms);
      };
      next();
    },
    ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const texts: string[] = [];
      call.on('data', (request: EchoRequest) => texts.push(request.text ?? ''));
      call.on('end', () => callback(null, { text: texts.join(','), metadata: seen(call.metadata) }, trailer()));
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      call.on('data', (request: EchoRequest) => call.write({ text: `echo ${request.text ?? ''}`, metadata: {} }));
      call.on('end', () => call.end(trailer()));
    },
  });
  const credentials = tls === undefined ? grpc.ServerCredentials.createInsecure() : grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }]);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));
  return {
    address: `127.0.0.1:${port}`,
    port,
    started,
    cancelled,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export type EchoClientInstance = grpc.Client & {
  Unary(request: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply?: EchoReply) => void): grpc.ClientUnaryCall;
  ServerStream(request: EchoRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  ClientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply?: EchoReply) => void): grpc.ClientWritableStream<EchoRequest>;
  Bidi(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
};

/**
 * A client of Portcullis: `url` is its h2c (`http://…`) or HTTPS listener; over TLS it trusts
 * `ca` and names `servername` (SNI and the certificate's name).
 */
export function echoClient(url: string, options: { ca?: string; servername?: string; authority?: string } = {}): EchoClientInstance {
  const { host } = new URL(url);
  const channel: grpc.ChannelOptions = {
    ...(options.authority === undefined ? {} : { 'grpc.default_authority': options.authority }),
    ...(options.servername === undefined ? {} : { 'grpc.ssl_target_name_override': options.servername }),
  };
  const credentials = url.startsWith('https:') ? grpc.credentials.createSsl(Buffer.from(options.ca ?? '')) : grpc.credentials.createInsecure();
  return new EchoClient(host, credentials, channel) as unknown as EchoClientInstance;
}

/** Metadata carrying a bearer token (none: empty). */
export function bearer(token?: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** A unary call as a promise: the reply, or the error with its code, details and trailing metadata. */
export function unary(client: EchoClientInstance, request: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions = {}): Promise<{ reply: EchoReply | null; error: grpc.ServiceError | null; trailers: Record<string, string> }> {
  return new Promise((resolve) => {
    // The callback and the 'status' event (with the trailing metadata) come in either order.
    let result: { reply: EchoReply | null; error: grpc.ServiceError | null } | null = null;
    let trailers: Record<string, string> | null = null;
    const settle = () => {
      if (result !== null && trailers !== null) resolve({ ...result, trailers });
    };
    const call = client.Unary(request, metadata, options, (error, reply) => {
      result = { reply: reply ?? null, error };
      settle();
    });
    call.on('status', (status: grpc.StatusObject) => {
      trailers = seen(status.metadata);
      settle();
    });
  });
}

export { grpc };
