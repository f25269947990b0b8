// The rows of the proxy benchmark. Adding one is one line: a name and how to start it in
// front of the upstream (its URL, and how to stop it).
import { fileURLToPath } from 'node:url';
import { startNginx } from './nginx.ts';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { startPortcullis } from './portcullis.ts';
import { startScript, type Running } from './processes.ts';

export interface BenchRow {
  readonly name: string;
  /** Starts the thing under test in front of `upstream` (the echo server's URL). */
  start(upstream: string): Promise<Running>;
}

const script = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/** The row every other is compared with. */
export const BASELINE = 'nginx, 1 worker';

export const ROWS: readonly BenchRow[] = [
  { name: 'upstream, direct', start: async (upstream) => ({ url: upstream, stop: async () => {} }) },
  { name: BASELINE, start: startNginx },
  { name: 'node:http + undici Forwarder', start: (upstream) => startScript(script('node-forwarder.ts'), [upstream]) },
  { name: 'node:http + http-proxy', start: (upstream) => startScript(script('node-http-proxy.ts'), [upstream]) },
  { name: 'portcullis, pass-through', start: (upstream) => startPortcullis(upstream) },
  // What the CLI's small young generation (it bounds memory during large uploads) costs.
  { name: 'portcullis, pass-through, V8 default young gen', start: (upstream) => startPortcullis(upstream, { defaultYoungGeneration: true }) },
  { name: 'portcullis, bearer (cache hit)', start: async (upstream) => startPortcullis(upstream, { mint: await sharedMint() }) },
  { name: 'portcullis, bearer (no cache)', start: async (upstream) => startPortcullis(upstream, { mint: await sharedMint(), signatureCacheSize: 0 }) },
];

let mint: Promise<CognitoMint> | null = null;
/** One Cognito-shaped key server for every bearer row; closed by closeSharedMint(). */
function sharedMint(): Promise<CognitoMint> {
  mint ??= startCognitoMint({ lifetime: 24 * 3600 });
  return mint;
}

export async function closeSharedMint(): Promise<void> {
  if (mint !== null) await (await mint).close();
}
