// Portcullis itself as a benchmark row: the real CLI as its own process (with the flags its
// shebang sets), default logging to a discarded stdout, in front of the echo upstream.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CognitoMint } from '../../src/demo/cognito-mint.ts';
import { stopChild, type Running } from './processes.ts';

const CLI = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

export interface PortcullisRowOptions {
  /** Protect the route with a bearer policy for this mint's tokens. */
  readonly mint?: CognitoMint;
  /** Verified signatures kept per policy (0: every request verifies its signature). */
  readonly signatureCacheSize?: number;
  /** Run under V8's default young generation instead of the CLI's --max-semi-space-size=1. */
  readonly defaultYoungGeneration?: boolean;
}

export async function startPortcullis(upstream: string, options: PortcullisRowOptions = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const policy = options.mint
    ? `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: machines}
spec: {issuer: "${options.mint.issuer}", provider: Cognito, clientID: "${options.mint.clientIds.machine}", bearer: {}, authorization: {requiredScopes: [default-m2m-resource-server/read]}, forward: {headers: {X-Client-Id: client_id}}}
---
`
    : '';
  writeFileSync(
    join(dir, 'bench.yaml'),
    `${policy}apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: bench}
spec:
  ${options.mint ? 'policyRef: {name: machines}' : ''}
  rules: [{matches: [{path: {value: /}}], backends: [{url: "${upstream}"}]}]
`,
  );
  const args = ['standalone', '-f', dir, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0', '--signature-cache-size', String(options.signatureCacheSize ?? 10_000)];
  const child = options.defaultYoungGeneration
    ? spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(CLI, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    const onData = (text: string) => {
      out += text;
      const listening = /"proxy":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(out);
      if (listening) {
        child.stdout.off('data', onData);
        child.stdout.resume(); // access log lines from here on are read and dropped
        resolve(listening[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`portcullis exited with ${code} before listening`)));
  });
  const headers = options.mint ? { authorization: `Bearer ${options.mint.mint({}, { kind: 'machine' })}` } : undefined;
  // The policy's provider is fetched in the background: wait until the route answers.
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${url}/anything`, { headers });
    await response.arrayBuffer();
    if (response.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, headers, stop: () => stopChild(child) };
}
