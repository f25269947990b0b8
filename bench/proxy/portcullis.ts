// Portcullis itself as a benchmark row: the real CLI as its own process, default logging to a
// discarded stdout, in front of the echo upstream.
import { spawn, type ChildProcessByStdio, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CognitoMint } from '../../src/demo/cognito-mint.ts';
import { stopChild, type Running } from './processes.ts';

const CLI = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

export interface PortcullisRowOptions {
  /** Protect the route with a bearer policy for this mint's tokens; `token` is one of them, to wait for readiness with. */
  readonly bearer?: { readonly mint: CognitoMint; readonly token: string };
  /** Verified signatures kept per policy (0: every request verifies its signature). */
  readonly signatureCacheSize?: number;
  /**
   * Node.js flags. Without them the CLI starts as a user starts it (its shebang's flags); with
   * them it runs under this Node.js with the shebang's flags and then these (a later flag wins).
   */
  readonly nodeFlags?: readonly string[];
}

/** The Node.js flags the CLI's shebang sets (`#!/usr/bin/env -S node --flag …`). */
export function shebangNodeFlags(): string[] {
  const shebang = readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '';
  const words = shebang.replace(/^#!/, '').trim().split(/\s+/);
  return words.slice(words.indexOf('node') + 1);
}

/**
 * The URL of one of a starting `portcullis` process's listeners (`proxy`, `proxyTLS`), from its
 * "listening" log line; the lines after it (the access log) are read and dropped.
 */
export function listeningURL(child: ChildProcessWithoutNullStreams | ChildProcessByStdio<null, Readable, null>, listener: 'proxy' | 'proxyTLS'): Promise<string> {
  const line = new RegExp(`"${listener}":"(https?://[^"]+)"[^\\n]*"msg":"listening"`);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    const onData = (text: string) => {
      out += text;
      const listening = line.exec(out);
      if (listening) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(listening[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`portcullis exited with ${code} before listening`)));
  });
}

export async function startPortcullis(upstream: string, options: PortcullisRowOptions = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const mint = options.bearer?.mint;
  const policy = mint
    ? `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: machines}
spec: {issuer: "${mint.issuer}", provider: Cognito, clientID: "${mint.clientIds.machine}", bearer: {}, authorization: {requiredScopes: [default-m2m-resource-server/read]}, forward: {headers: {X-Client-Id: client_id}}}
---
`
    : '';
  writeFileSync(
    join(dir, 'bench.yaml'),
    `${policy}apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: bench}
spec:
  ${mint ? 'policyRef: {name: machines}' : ''}
  rules: [{matches: [{path: {value: /}}], backends: [{url: "${upstream}"}]}]
`,
  );
  const args = ['standalone', '-f', dir, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0', '--signature-cache-size', String(options.signatureCacheSize ?? 10_000)];
  const child = options.nodeFlags
    ? spawn(process.execPath, [...shebangNodeFlags(), ...options.nodeFlags, CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(CLI, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const url = await listeningURL(child, 'proxy');
  const headers = options.bearer ? { authorization: `Bearer ${options.bearer.token}` } : undefined;
  // The policy's provider is fetched in the background: wait until the route answers.
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${url}/anything`, { headers });
    await response.arrayBuffer();
    if (response.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid, stop };
}
