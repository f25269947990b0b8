// What the browser suites share: Chromium (Debian's, driven by playwright-core), free loopback
// ports, the provider's sign-in form, manifests, and a Redis server of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chromium, type Browser, type Page, type Response } from 'playwright-core';
import type { DemoUser } from '../../src/demo/users.ts';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A port free on 127.0.0.1 (the provider must know the proxies' callback URLs before they start). */
import { freePort } from '../support/ports.ts';

export { freePort };

/** Fills the provider's own sign-in form, as a person would. */
export async function fillLoginForm(page: Page, user: Pick<DemoUser, 'username' | 'password'>): Promise<Response | null> {
  await page.waitForSelector('#username');
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
  return response;
}

/** The JSON the echo upstream answered with (its view of the request). */
export async function echoed(page: Page): Promise<{ path: string; headers: Record<string, string | undefined> }> {
  return JSON.parse((await page.locator('body').innerText()).trim()) as { path: string; headers: Record<string, string | undefined> };
}

export { policyYAML, secretYAML } from '../support/manifests.ts';

/**
 * A Cognito user in many groups with long attributes, named the way real directories name them
 * (opaque ids, not words): tokens of more than 8 KiB together, which no compression shrinks much.
 */
export function bigUser(): DemoUser {
  const opaque = (seed: string, length: number) => {
    let out = '';
    for (let i = 0; out.length < length; i++) out += createHash('sha256').update(`${seed}:${i}`).digest('base64url');
    return out.slice(0, length);
  };
  const groups = Array.from({ length: 40 }, (_, i) => `g-${opaque(`group${i}`, 24)}`);
  const customAttributes: Record<string, string> = {};
  for (let i = 0; i < 12; i++) customAttributes[`attr${i}`] = opaque(`attr${i}`, 250);
  return {
    username: 'carol',
    password: 'carol-password',
    sub: '3c2d1e0f-4a5b-4c6d-8e7f-901a2b3c4d5e',
    email: 'carol@example.com',
    emailVerified: true,
    groups,
    customAttributes: { tenant: 'initech', ...customAttributes },
  };
}

export interface RedisServer {
  readonly address: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Debian's redis-server on a free loopback port, nothing persisted. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return {
    address: `127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
