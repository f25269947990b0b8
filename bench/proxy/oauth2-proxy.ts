// oauth2-proxy as a peer, built from its Go module by bench/peers/oauth2-proxy/build.sh (or
// taken from $PORTCULLIS_OAUTH2_PROXY_BIN, a directory holding `oauth2-proxy`), configured for
// Cognito access tokens against the mint's issuer, in front of the echo upstream.
//
// A Cognito access token has no `aud`: oauth2-proxy accepts it as a bearer token only with
// --skip-jwt-bearer-tokens and --oidc-audience-claim=client_id; --force-json-errors makes it
// answer 401 rather than a sign-in page. It verifies the signature on every request (no cache),
// and checks neither `token_use` nor scopes. Its request log stays on (as Portcullis's access
// log does), read and dropped like Portcullis's.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CognitoMint } from '../../src/demo/cognito-mint.ts';
import { runBuildScript } from '../../test/cluster/harness.ts';
import { freePort, stopChild, waitForPort, type Running } from './processes.ts';
import { hasCommand } from './tools.ts';

const BUILD_SCRIPT = join(import.meta.dirname, '../peers/oauth2-proxy/build.sh');

/** The directory holding the oauth2-proxy binary: $PORTCULLIS_OAUTH2_PROXY_BIN, else build.sh's cache (about five minutes cold). */
async function oauth2ProxyBinary(): Promise<string> {
  const fromEnv = process.env.PORTCULLIS_OAUTH2_PROXY_BIN;
  if (fromEnv === undefined && !hasCommand('go')) throw new Error('Go is not installed, and bench/peers/oauth2-proxy/build.sh builds oauth2-proxy with it.');
  const binary = join(fromEnv ?? (await runBuildScript(BUILD_SCRIPT)), 'oauth2-proxy');
  if (!existsSync(binary)) throw new Error(`${binary} does not exist.`);
  return binary;
}

export async function startOAuth2Proxy(upstream: string, mint: CognitoMint): Promise<Running> {
  const binary = await oauth2ProxyBinary();
  const port = await freePort();
  const args = [
    `--http-address=127.0.0.1:${port}`,
    `--upstream=${upstream}/`,
    '--provider=oidc',
    `--oidc-issuer-url=${mint.issuer}`,
    `--client-id=${mint.clientIds.machine}`,
    '--email-domain=*',
    '--skip-jwt-bearer-tokens=true',
    '--oidc-audience-claim=client_id',
    '--force-json-errors=true',
  ];
  // Secrets go through the environment, never the command line (which `ps` shows).
  const env = {
    ...process.env,
    OAUTH2_PROXY_CLIENT_SECRET: randomBytes(16).toString('hex'),
    OAUTH2_PROXY_COOKIE_SECRET: randomBytes(16).toString('hex'), // 32 characters: an AES-256 key
  };
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const keepTail = (text: string): void => {
    output = (output + text).slice(-4_000);
  };
  child.stdout.setEncoding('utf8').on('data', keepTail);
  child.stderr.setEncoding('utf8').on('data', keepTail);
  const stop = () => stopChild(child);
  try {
    await Promise.race([
      waitForPort(port, 30_000),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`oauth2-proxy exited with ${code}`)))),
    ]);
  } catch (error) {
    await stop();
    throw new Error(`oauth2-proxy did not start: ${output.trim().split('\n').slice(-3).join(' ')}`, { cause: error });
  }
  child.stdout.off('data', keepTail);
  child.stdout.resume();
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim(); // "oauth2-proxy v7.15.6 (built with go1.26.8)"
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, version, stop };
}
