import { connectionTokens, downstreamResponseHeaders, headersFromClient, relayedTrailers, setsProxyCookie, upstreamRequestHeaders } from '../../src/proxy/forward/hop-by-hop.ts';

describe('hop-by-hop headers', () => {
  it('reads Connection tokens, case-insensitively, across repeated headers', () => {
    expect(connectionTokens(undefined)).toBeNull();
    expect(connectionTokens('close')).toBeNull();
    expect(connectionTokens(['Keep-Alive, X-A', ' x-b ,,X-A'])).toEqual(new Set(['x-a', 'x-b']));
  });

  it('copies the client headers without hop-by-hop ones and those the client named', () => {
    expect(headersFromClient({
      host: 'a.example', connection: 'keep-alive, x-secret', 'x-secret': '1', te: 'trailers', upgrade: 'h2c',
      'keep-alive': 'timeout=5', 'proxy-connection': 'x', trailer: 'x', 'transfer-encoding': 'chunked', 'x-kept': 'yes',
      'set-cookie': ['a', 'b'],
    })).toEqual({ host: 'a.example', 'x-kept': 'yes', 'set-cookie': ['a', 'b'] });
  });

  it("keeps a gRPC call's TE: trailers (and no other TE) both ways: gRPC servers may require it", () => {
    const grpc = { 'content-type': 'application/grpc', te: 'trailers' };
    expect(headersFromClient(grpc)).toEqual(grpc);
    expect(headersFromClient({ ...grpc, te: 'gzip, trailers' })).toEqual(grpc);
    expect(headersFromClient({ ...grpc, te: 'gzip' })).toEqual({ 'content-type': 'application/grpc' });
    expect(upstreamRequestHeaders(grpc)).toEqual(['content-type', 'application/grpc', 'te', 'trailers']);
    expect(upstreamRequestHeaders({ ...grpc, 'content-type': 'application/json' })).toEqual(['content-type', 'application/json']);
  });

  it("relays an upstream's trailers (gRPC's status, custom metadata), never cookies, framing or our request id", () => {
    expect(relayedTrailers({
      'grpc-status': '0', 'grpc-message': 'OK', 'x-custom-bin': 'AAE=', 'Set-Cookie': ['portcullis=forged'], 'content-length': '5',
      connection: 'close', 'x-request-id': 'theirs', ':status': '200', 'x-none': undefined,
    })).toEqual({ 'grpc-status': '0', 'grpc-message': 'OK', 'x-custom-bin': 'AAE=' });
    expect(relayedTrailers(undefined)).toEqual({});
  });

  it('drops HTTP/2 pseudo-headers: the upstream request gets its own', () => {
    expect(headersFromClient({ ':authority': 'a.example', ':path': '/x', ':method': 'GET', ':scheme': 'https', host: 'a.example' })).toEqual({ host: 'a.example' });
  });

  it('keeps identity headers set after headersFromClient, whatever the client named in Connection', () => {
    const prepared = { ...headersFromClient({ connection: 'x-user-email', 'x-user-email': 'forged' }), 'x-user-email': 'real@example.com' };
    expect(upstreamRequestHeaders(prepared)).toEqual(['x-user-email', 'real@example.com']);
  });

  it('flattens prepared headers for undici, dropping hop-by-hop ones, named ones and Expect', () => {
    expect(upstreamRequestHeaders({
      Host: 'a.example', Connection: 'X-Named', 'x-named': '1', Expect: '100-continue', 'X-Multi': ['1', '2'], 'x-none': undefined, TE: 'trailers',
    })).toEqual(['Host', 'a.example', 'X-Multi', '1', 'X-Multi', '2']);
  });

  it('filters raw response headers, keeping case, order and repeats', () => {
    const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Set-Cookie', 'a=1', 'Keep-Alive', 'timeout=5',
      'Set-Cookie', 'b=2', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Trailer', 'X-Sum', 'Proxy-Connection', 'x']
      .map((value) => Buffer.from(value, 'latin1'));
    expect(downstreamResponseHeaders(raw)).toEqual(['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
    expect(downstreamResponseHeaders([Buffer.from('X-Latin'), Buffer.from([0xe9])])).toEqual(['X-Latin', 'é']);
  });

  it("sets the answer's X-Request-Id, in place of any the upstream sent", () => {
    const raw = ['X-Request-ID', 'upstream-own', 'Content-Type', 'text/plain', 'x-request-id', 'again'].map((value) => Buffer.from(value, 'latin1'));
    expect(downstreamResponseHeaders(raw, 'ours')).toEqual(['Content-Type', 'text/plain', 'x-request-id', 'ours']);
    expect(downstreamResponseHeaders(raw)).toEqual(['X-Request-ID', 'upstream-own', 'Content-Type', 'text/plain', 'x-request-id', 'again']);
  });

  it("removes the upstream's Set-Cookie lines for the proxy's own cookies, and keeps the others", () => {
    const lines = [
      '_web=evil; Path=/; HttpOnly', // the session
      '_web_0=2~a', // a chunk of it
      '_web_12=b',
      '_web_login_0123456789abcdef=attempt', // a login attempt
      '_web_restarts=9',
      ' _web =spaced', // read as a browser reads it: the name trimmed
      '_web', // no "=": read as the name, as our Cookie reader reads it
      '_other=x; Max-Age=0', // the other policy's
      'app=1; Path=/',
      '_webx=theirs',
      '_web_abc=theirs',
      'web=theirs',
      '_WEB=theirs', // cookie names are case-sensitive
    ];
    const raw = ['Content-Type', 'text/plain', ...lines.flatMap((line) => ['Set-Cookie', line]), 'X-After', '1'].map((value) => Buffer.from(value, 'latin1'));
    expect(downstreamResponseHeaders(raw, undefined, ['_web', '_other'])).toEqual([
      'Content-Type', 'text/plain', 'Set-Cookie', 'app=1; Path=/', 'Set-Cookie', '_webx=theirs', 'Set-Cookie', '_web_abc=theirs', 'Set-Cookie', 'web=theirs', 'Set-Cookie', '_WEB=theirs', 'X-After', '1',
    ]);
    // Without a browser policy in the table, every line goes through.
    expect(downstreamResponseHeaders(raw).filter((value) => value === 'Set-Cookie')).toHaveLength(lines.length);
    expect(setsProxyCookie('_web=1', ['_web'])).toBe(true);
    expect(setsProxyCookie('_web2=1', ['_web'])).toBe(false);
  });
});
