// --listen as users write it (host:port, :port, port), and a port that is taken: the real
// process, on loopback.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO_ROOT } from '../support/cli.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { routeYAML } from '../support/manifests.ts';
import { startPortcullis } from '../support/portcullis-process.ts';
import { freePort } from '../support/ports.ts';

let echo: EchoServer;
let dir: string;

beforeAll(async () => {
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'portcullis-listen-'));
  writeFileSync(join(dir, 'route.yaml'), routeYAML('open', `  rules: [{public: true, backends: [{url: "${echo.url}"}]}]`));
});

afterAll(async () => {
  await echo.close();
});

describe.each([
  ['a bare port', (port: number) => String(port)],
  [':port', (port: number) => `:${port}`],
  ['host:port', (port: number) => `127.0.0.1:${port}`],
])('--listen <%s>', (_, listen) => {
  it('serves on that port', async () => {
    const port = await freePort();
    const proxy = await startPortcullis(['standalone', '-f', dir, '--listen', listen(port)]);
    try {
      expect(proxy.url).toBe(`http://127.0.0.1:${port}`);
      const response = await fetch(`http://127.0.0.1:${port}/hello`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ path: '/hello' });
    } finally {
      await proxy.stop();
    }
  });
});

/**
 * Runs the CLI to its end, or kills it after `timeoutMs`. `afterStderrMs`: from its first line on
 * stderr to its exit.
 */
async function runToExit(args: readonly string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; afterStderrMs: number }> {
  const child = spawn(CLI, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let stderrAt = Number.NaN;
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr === '') stderrAt = performance.now();
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = once(child, 'exit');
  const [code] = (await exited) as [number | null];
  const exitedAt = performance.now();
  clearTimeout(timer);
  if (child.stderr.readableEnded === false) await once(child.stderr, 'end');
  return { code, stderr, afterStderrMs: exitedAt - stderrAt };
}

describe('a port that is already taken', () => {
  let taken: Server;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    taken = createServer().listen(port, '127.0.0.1');
    await once(taken, 'listening');
  });

  afterAll(async () => {
    await new Promise((resolve) => taken.close(resolve));
  });

  // Before the fix, the process printed the error and then lived on with nothing listening:
  // these ran into the kill timer (code null) instead of exiting.
  it.each([
    ['the proxy listener', ['--listen', '127.0.0.1:PORT', '--ops-listen', '127.0.0.1:0']],
    ['the ops listener, after the proxy listener is up', ['--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:PORT']],
  ])('on %s: one line and a non-zero exit, at once', async (_, flags) => {
    const result = await runToExit(['standalone', '-f', dir, ...flags.map((flag) => flag.replace('PORT', String(port)))], 30_000);
    expect(result.stderr).toBe(`portcullis: Cannot listen on 127.0.0.1:${port}: the address is already in use.\n`);
    expect(result.code).toBe(1);
    expect(result.afterStderrMs).toBeLessThan(1_000);
  }, 40_000);

  it('on the echo upstream: the same', async () => {
    const result = await runToExit(['echo', '--port', String(port)], 30_000);
    expect(result.stderr).toBe(`portcullis: Cannot listen on 127.0.0.1:${port}: the address is already in use.\n`);
    expect(result.code).toBe(1);
    expect(result.afterStderrMs).toBeLessThan(1_000);
  }, 40_000);
});

describe('portcullis controller without any kubeconfig', () => {
  it('refuses to start with one line instead of retrying http://localhost:8080 for ever', async () => {
    const home = mkdtempSync(join(tmpdir(), 'portcullis-nohome-'));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.KUBECONFIG;
    delete env.KUBERNETES_SERVICE_HOST;
    const child = spawn(process.execPath, [CLI, 'controller', '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('portcullis: No kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod; pass --kubeconfig <file>.');
  });
});
