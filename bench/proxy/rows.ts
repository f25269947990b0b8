// The rows of the proxy benchmark. Adding one is one line: a name and how to start it in
// front of the upstream (its URL, the process whose CPU time is the row's, and how to stop it).
import { fileURLToPath } from 'node:url';
import type { CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startApache } from './apache.ts';
import { startNginx } from './nginx.ts';
import { startOAuth2Proxy } from './oauth2-proxy.ts';
import { startPortcullis } from './portcullis.ts';
import { startScript, type Running } from './processes.ts';

/** What every row is started against: the echo upstream, and the Cognito-shaped issuer of the bearer rows with one of its tokens. */
export interface BenchContext {
  /** The echo upstream's URL. */
  readonly upstream: string;
  /** The echo upstream's process (the "upstream, direct" row is its CPU time). */
  readonly upstreamPid: number;
  readonly mint: CognitoMint;
  /** A machine access token of the mint, sent by wrk to every bearer row. */
  readonly token: string;
}

export interface BenchRow {
  readonly name: string;
  /**
   * `verified`: requests carry `Authorization: Bearer <token>`, and the row must answer 401
   * without it or with a forged one; `sent`: they carry it, and nothing checks it; `none`.
   */
  readonly token: 'verified' | 'sent' | 'none';
  start(context: BenchContext): Promise<Running>;
}

const script = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/** The row every req/s is compared with. */
export const BASELINE = 'nginx, 1 worker';
/** The Node.js ceiling: the row every CPU time is compared with, and the targets. */
export const FORWARDER = 'node:http + undici Forwarder';
export const PASS_THROUGH = 'portcullis, pass-through';
export const PASS_THROUGH_TOKEN_SENT = 'portcullis, pass-through, token sent';
export const BEARER_CACHE_HIT = 'portcullis, bearer (cache hit)';

/**
 * Pass-through under each young-generation size, for choosing one (V8's flag, in MiB). 64 is
 * what Node.js 24's V8 grows a semi-space to by default on these machines (`--trace-gc-verbose`:
 * new space committed 128 MiB).
 */
export const SEMI_SPACE_MIB = [1, 4, 8, 16, 32, 64] as const;

const bearerOf = (context: BenchContext) => ({ mint: context.mint, token: context.token });

export const ROWS: readonly BenchRow[] = [
  { name: 'upstream, direct', token: 'none', start: async ({ upstream, upstreamPid }) => ({ url: upstream, pid: upstreamPid, stop: async () => {} }) },
  { name: BASELINE, token: 'none', start: ({ upstream }) => startNginx(upstream) },
  { name: FORWARDER, token: 'none', start: ({ upstream }) => startScript(script('node-forwarder.ts'), [upstream]) },
  { name: 'node:http + http-proxy', token: 'none', start: ({ upstream }) => startScript(script('node-http-proxy.ts'), [upstream]) },
  // As a user starts it: the bin, with the Node.js flags of its shebang.
  { name: PASS_THROUGH, token: 'none', start: ({ upstream }) => startPortcullis(upstream) },
  // What carrying a token costs before anything checks it (a bearer row's request is 1 KB longer).
  { name: PASS_THROUGH_TOKEN_SENT, token: 'sent', start: ({ upstream }) => startPortcullis(upstream) },
  { name: BEARER_CACHE_HIT, token: 'verified', start: (context) => startPortcullis(context.upstream, { bearer: bearerOf(context) }) },
  { name: 'portcullis, bearer (no cache)', token: 'verified', start: (context) => startPortcullis(context.upstream, { bearer: bearerOf(context), signatureCacheSize: 0 }) },
  { name: 'oauth2-proxy, bearer (no cache)', token: 'verified', start: (context) => startOAuth2Proxy(context.upstream, context.mint) },
  { name: 'Apache + mod_auth_openidc, bearer (no cache)', token: 'verified', start: (context) => startApache(context.upstream, context.mint) },
  ...SEMI_SPACE_MIB.map((mib): BenchRow => ({
    name: `portcullis, pass-through, semi-space ${mib} MiB`,
    token: 'none',
    start: ({ upstream }) => startPortcullis(upstream, { nodeFlags: [`--max-semi-space-size=${mib}`] }),
  })),
  // The bin's bound on spent request-body chunks (bin/portcullis.js) halved: what a tighter upload bound would cost small requests.
  { name: 'portcullis, pass-through, ArrayBuffer trigger 4 MiB', token: 'none', start: ({ upstream }) => startPortcullis(upstream, { nodeFlags: ['--scavenger-max-new-space-capacity-mb=1'] }) },
];
