// The gRPC helpers the proxy answers and forwards with: recognising a call, its deadline, the
// status of each of our answers, and grpc-message's encoding.
import { ERROR_STATUS, type ErrorCode } from '../../src/model/errors.ts';
import { encodeGrpcMessage, grpcStatusOf, grpcTimeoutMs, isGrpcRequest } from '../../src/proxy/h2/grpc.ts';

describe('gRPC helpers', () => {
  it('recognises gRPC calls by their content type', () => {
    for (const type of ['application/grpc', 'application/grpc+proto', 'Application/GRPC;charset=utf-8', 'application/grpc-web+proto']) expect(isGrpcRequest({ 'content-type': type })).toBe(true);
    for (const type of [undefined, 'application/json', 'application/gr', 'text/grpc']) expect(isGrpcRequest({ 'content-type': type })).toBe(false);
  });

  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3_000],
    ['250m', 250],
    ['1500u', 2],
    ['1n', 1],
    ['99999999S', null], // longer than a timer can wait: as good as none
  ])('reads grpc-timeout %s as %s ms', (value, ms) => {
    expect(grpcTimeoutMs({ 'grpc-timeout': value })).toBe(ms);
  });

  it('ignores a grpc-timeout it cannot read', () => {
    for (const value of ['', '10', '10s', '123456789S', '-1S', '1.5S']) expect(grpcTimeoutMs({ 'grpc-timeout': value })).toBeNull();
    expect(grpcTimeoutMs({})).toBeNull();
  });

  it.each<[ErrorCode, number]>([
    ['TOKEN_MISSING', 16],
    ['TOKEN_EXPIRED', 16],
    ['SCOPE_MISSING', 7],
    ['GROUP_MISSING', 7],
    ['CLAIM_MISMATCH', 7],
    ['NO_HEALTHY_BACKEND', 14],
    ['POLICY_NOT_READY', 14],
    ['UPSTREAM_CONNECT_FAILED', 14],
    ['UPSTREAM_BUSY', 14],
    ['UPSTREAM_TIMEOUT', 4],
    ['NOT_FOUND', 12],
    ['TARGET_TRAVERSAL', 13],
    ['INTERNAL', 13],
  ])('answers %s with gRPC status %s', (code, status) => {
    expect(grpcStatusOf(ERROR_STATUS[code])).toBe(status);
  });

  it('gives every code in the catalogue a gRPC status other than OK', () => {
    for (const status of Object.values(ERROR_STATUS)) expect(grpcStatusOf(status)).toBeGreaterThan(0);
  });

  it('percent-encodes grpc-message outside printable ASCII, and %', () => {
    expect(encodeGrpcMessage('No route matches this request.')).toBe('No route matches this request.');
    expect(encodeGrpcMessage('100% café\n')).toBe('100%25 caf%C3%A9%0A');
  });
});
